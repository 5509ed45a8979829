/**
 * The fence between memory updates and the deletion of a user (SPEC §10.4): once
 * `AgentMemory.deleteUserData(userId)` returns, no update of that user that was in flight writes
 * anything. Each update writes through a view of the db that refuses writes once the update's
 * signal fired; deleting a user aborts that user's updates, waits for the writes they already
 * sent, and refuses updates that begin while it deletes.
 *
 * @internal
 */
import { BuddyError, describeValue, type MemoryDb } from '@buddy/core';

interface Update {
  controller: AbortController;
  /** Writes sent and not yet settled. */
  inFlight: Set<Promise<unknown>>;
}

/** One update of one user: its signal and the db view it must write through. */
export interface FencedUpdate {
  signal: AbortSignal;
  db: MemoryDb;
  end(): void;
}

/** Fences memory writes against user deletion; see the module comment. */
export class UserWriteFence {
  /** userId → the updates running for that user. */
  readonly #updates = new Map<string, Set<Update>>();
  /** userId → deletions in progress. */
  readonly #deleting = new Map<string, number>();
  /** userId → single writes (of agentic memory tools) sent and not yet settled. */
  readonly #writes = new Map<string, Set<Promise<unknown>>>();

  /**
   * One write for `userId` outside an update (the agent's own memory tools): refused while the
   * user is being deleted or once `signal` fired; a deletion waits for it.
   */
  write<T>(userId: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    if ((this.#deleting.get(userId) ?? 0) > 0 || signal?.aborted === true) {
      return Promise.reject(
        new BuddyError({
          code: 'ABORTED',
          message: `The memory of user ${describeValue(userId)} was not changed (the run was aborted, or the user's data is being deleted)`,
          cause: signal?.reason,
        }),
      );
    }
    const sent = work();
    const set = this.#writes.get(userId) ?? new Set<Promise<unknown>>();
    set.add(sent);
    this.#writes.set(userId, set);
    const settled = () => {
      set.delete(sent);
      if (set.size === 0) this.#writes.delete(userId);
    };
    sent.then(settled, settled);
    return sent;
  }

  /** Registers an update of `userId` writing to `db`; `outer` (the caller's signal) aborts it. */
  begin(userId: string, db: MemoryDb, outer: AbortSignal | undefined): FencedUpdate {
    const controller = new AbortController();
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    else outer?.addEventListener('abort', onAbort, { once: true });
    if ((this.#deleting.get(userId) ?? 0) > 0) controller.abort(deletedError(userId));
    const update: Update = { controller, inFlight: new Set() };
    const set = this.#updates.get(userId) ?? new Set<Update>();
    set.add(update);
    this.#updates.set(userId, set);
    const signal = controller.signal;
    const write = <T>(work: () => Promise<T>): Promise<T> => {
      if (signal.aborted) {
        return Promise.reject(
          new BuddyError({
            code: 'ABORTED',
            message: `The memory update of user ${describeValue(userId)} was stopped (aborted, or the user's data was deleted); nothing more is written`,
            cause: signal.reason,
          }),
        );
      }
      const sent = work();
      update.inFlight.add(sent);
      const settled = () => update.inFlight.delete(sent);
      sent.then(settled, settled);
      return sent;
    };
    return {
      signal,
      db: {
        specificationVersion: db.specificationVersion,
        backend: db.backend,
        readMemories: (input) => db.readMemories(input),
        upsertMemory: (memory) => write(() => db.upsertMemory(memory)),
        deleteMemory: (input) => write(() => db.deleteMemory(input)),
        clearMemories: (input) => write(() => db.clearMemories(input)),
        deleteUserData: (id) => write(() => db.deleteUserData(id)),
        close: () => Promise.resolve(),
      },
      end: () => {
        outer?.removeEventListener('abort', onAbort);
        set.delete(update);
        if (set.size === 0) this.#updates.delete(userId);
      },
    };
  }

  /**
   * Runs `work` (the deletion) once `userId`'s updates are aborted and their sent writes have
   * settled; updates beginning meanwhile start aborted.
   */
  async exclusive<T>(userId: string, work: () => Promise<T>): Promise<T> {
    this.#deleting.set(userId, (this.#deleting.get(userId) ?? 0) + 1);
    try {
      const writes: Promise<unknown>[] = [...(this.#writes.get(userId) ?? [])];
      for (const update of this.#updates.get(userId) ?? []) {
        update.controller.abort(deletedError(userId));
        writes.push(...update.inFlight);
      }
      await Promise.allSettled(writes);
      return await work();
    } finally {
      const left = (this.#deleting.get(userId) ?? 1) - 1;
      if (left === 0) this.#deleting.delete(userId);
      else this.#deleting.set(userId, left);
    }
  }
}

function deletedError(userId: string): BuddyError {
  return new BuddyError({
    code: 'ABORTED',
    message: `the data of user ${describeValue(userId)} is being deleted`,
  });
}
