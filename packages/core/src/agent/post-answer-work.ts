/**
 * Post-answer work (SPEC §2.4 step 7, §2.7, §10.4): the session summary and the user's memories,
 * after the run is stored. It never loses the run (failures become warnings), it always settles
 * (the run's `AbortSignal` and `postAnswerTimeoutMs` end it, with a warning saying what was given
 * up), and it is fenced against deletion: `cancelSession` / `cancelUser` abort the work of that
 * session or user and wait for it, so once a deletion returns nothing in flight writes again.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { toBuddyError } from '../errors/to-buddy-error.ts';
import type { AgentMemoryContract } from '../spec/agent-memory-v1.ts';
import type { Logger } from '../spec/logger.ts';

/** One run's post-answer work. */
export interface PostAnswerJob {
  runId: string;
  sessionId: string;
  userId: string | undefined;
  /** The user's message of the run (what memories are learnt from). */
  message: string;
  /** The run's signal: aborting it gives the work up (`undefined`: nothing aborts the run). */
  signal: AbortSignal | undefined;
  /** Where warnings go (the run's `RunResponse.warnings`). */
  warnings: string[];
}

/** What post-answer work needs from the agent's options. */
export interface PostAnswerOptions {
  memory: AgentMemoryContract | undefined;
  summaries: boolean;
  memories: boolean;
  timeoutMs: number;
  logger: Logger;
}

interface Running {
  sessionId: string;
  userId: string | undefined;
  controller: AbortController;
  done: Promise<void>;
}

/** Resolves when `work` settles or `signal` fires, whichever comes first. */
function settleOrAbort(work: Promise<void>, signal: AbortSignal): Promise<'done' | 'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve) => {
    const onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve('done');
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve('done');
      },
    );
  });
}

/** Runs, bounds and fences the post-answer work of an agent; see the module comment. */
export class PostAnswerWork {
  readonly #options: PostAnswerOptions;
  readonly #running = new Set<Running>();

  constructor(options: PostAnswerOptions) {
    this.#options = options;
  }

  /** Whether a run has post-answer work at all. */
  get enabled(): boolean {
    const { memory, summaries, memories } = this.#options;
    return memory !== undefined && (summaries || memories);
  }

  /** Runs the work of one run; resolves when it is done or given up, never rejects. */
  async run(job: PostAnswerJob): Promise<void> {
    const { memory, summaries, memories, timeoutMs, logger } = this.#options;
    if (memory === undefined || !(summaries || memories)) return;
    // Warnings land in a fixed order (summary, then memories), whichever finishes first.
    const pending: { order: number; message: string }[] = [];
    const warnAt = (order: number) => (message: string, error?: unknown) => {
      pending.push({ order, message });
      logger.warn(message, {
        sessionId: job.sessionId,
        runId: job.runId,
        ...(error === undefined ? {} : { error }),
      });
    };
    const controller = new AbortController();
    const timeout = AbortSignal.timeout(timeoutMs);
    const runSignal = job.signal;
    const onRunAbort = () => controller.abort(runSignal?.reason);
    const onTimeout = () =>
      controller.abort(
        new BuddyError({
          code: 'ABORTED',
          message: `post-answer work took longer than postAnswerTimeoutMs (${timeoutMs} ms)`,
        }),
      );
    if (runSignal?.aborted) onRunAbort();
    runSignal?.addEventListener('abort', onRunAbort, { once: true });
    timeout.addEventListener('abort', onTimeout, { once: true });
    const signal = controller.signal;
    const reason = () => toBuddyError(signal.reason, 'ABORTED').message;

    const tasks: Promise<void>[] = [];
    if (summaries) {
      const warn = warnAt(0);
      const work = memory.updateSessionSummary({
        sessionId: job.sessionId,
        ...(job.userId === undefined ? {} : { userId: job.userId }),
        signal,
      });
      tasks.push(
        settleOrAbort(
          work.then(() => {}),
          signal,
        ).then(async (outcome) => {
          if (outcome === 'aborted') {
            warn(
              `Session summary was not updated (given up: ${reason()}); the previous summary is kept.`,
            );
            return;
          }
          await work.then(
            () => {},
            (error: unknown) =>
              warn(
                `Session summary was not updated; the previous summary is kept. ${toBuddyError(error).message}`,
                error,
              ),
          );
        }),
      );
    }
    if (memories) {
      const warn = warnAt(1);
      if (job.userId === undefined) {
        warn(
          'User memories were not updated: the run has no userId (pass userId to the Agent or the run).',
        );
      } else {
        const work = memory.updateUserMemories({
          userId: job.userId,
          message: job.message,
          signal,
        });
        tasks.push(
          settleOrAbort(work, signal).then(async (outcome) => {
            if (outcome === 'aborted') {
              warn(`User memories were not updated (given up: ${reason()}).`);
              return;
            }
            await work.then(
              () => {},
              (error: unknown) =>
                warn(`User memories were not updated. ${toBuddyError(error).message}`, error),
            );
          }),
        );
      }
    }
    const done = Promise.all(tasks).then(() => {});
    const entry: Running = { sessionId: job.sessionId, userId: job.userId, controller, done };
    this.#running.add(entry);
    try {
      await done;
    } finally {
      pending.sort((a, b) => a.order - b.order);
      for (const { message } of pending) job.warnings.push(message);
      this.#running.delete(entry);
      runSignal?.removeEventListener('abort', onRunAbort);
      timeout.removeEventListener('abort', onTimeout);
    }
  }

  /** Aborts the work of every run matching `match` and waits until it has settled. */
  async #cancel(match: (entry: Running) => boolean, why: string): Promise<void> {
    const waiting: Promise<void>[] = [];
    for (const entry of this.#running) {
      if (!match(entry)) continue;
      entry.controller.abort(new BuddyError({ code: 'ABORTED', message: why }));
      waiting.push(entry.done);
    }
    await Promise.all(waiting);
  }

  /** Fences a session being deleted. */
  cancelSession(sessionId: string): Promise<void> {
    return this.#cancel((entry) => entry.sessionId === sessionId, 'the session was deleted');
  }

  /** Fences a user being deleted. */
  cancelUser(userId: string): Promise<void> {
    return this.#cancel((entry) => entry.userId === userId, "the user's data was deleted");
  }

  /** Gives up all work (the agent is closing). */
  cancelAll(): Promise<void> {
    return this.#cancel(() => true, 'the agent was closed');
  }
}
