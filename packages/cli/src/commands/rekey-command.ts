/**
 * `buddy rekey <url> --new-key-file <path>`: re-encrypts a place in place with a new key (SPEC
 * §15.3), reading with the current key and the previous ones (`--key-file`,
 * `--previous-key-file`, or the environment), or reading plaintext with `--from-plain` (to
 * encrypt a store that never was). Afterwards the old keys can be destroyed: it verifies that
 * every session and memory decrypts with the new key alone.
 *
 * Runs are immutable in the storage contract, so a session is rewritten whole, never left half
 * done: first a complete copy under a temporary id (`buddy-rekey-<hash>`, no owner, encrypted
 * with the new key, its state saying which session it copies and whether the copy is complete),
 * then the session is deleted and written again from the copy, then the copy is deleted. A run
 * interrupted at any point (even `kill -9`) is finished by the next one: a complete copy is
 * restored, an incomplete one is dropped (the session was not touched yet). Sessions that already
 * decrypt with the new key alone are skipped, so running it again is cheap.
 *
 * Memories are rewritten row by row (an upsert replaces a row atomically). A session keeps its
 * `createdAt` / `updatedAt` (kept in the copy's state, restored with `restoreTimes`) where the
 * backend declares `restoresTimes`, as every Buddy backend does, so retention does not restart.
 * What the contract cannot carry over: versions restart (as in an import), and memory embeddings
 * are dropped (the `MemoryDb` contract cannot read them back; they are computed again from the
 * text). Stop the agents that write to the place while it runs.
 */
import { createHash } from 'node:crypto';
import {
  BuddyError,
  type EncryptionKeys,
  encryptedMemoryDb,
  encryptedStorage,
  encryptionKeyId,
  isEncryptedText,
  type MemoryDb,
  type SessionRecord,
  type SessionStorage,
} from '@buddy/core';
import { cliFailure, usageError } from '../cli-errors.ts';
import { type Command, stringOption, stringsOption } from '../command.ts';
import { KEY_ENV, keysFromOptions, NEW_KEY_ENV, readKey } from '../encryption-keys.ts';
import { openPlace } from '../open-place.ts';
import { Progress } from '../progress.ts';
import {
  firstKeptIndex,
  listEverySession,
  readRuns,
  walkSessionsOldestFirst,
} from '../session-source.ts';
import { type PortableSession, toPortable, writeSession } from '../session-writer.ts';

/** Ids of the temporary copies. */
const TEMP_PREFIX = 'buddy-rekey-';

function tempIdOf(sessionId: string): string {
  return `${TEMP_PREFIX}${createHash('sha256').update(sessionId).digest('hex').slice(0, 40)}`;
}

/** What the copy's state holds besides the session's own state. */
interface CopyState {
  rekeyOf: string;
  complete: boolean;
  /** The session's own fields; its times are absent in copies made by an older `buddy`. */
  session: Pick<PortableSession, 'userId' | 'agentId' | 'metadata' | 'sessionState'> &
    Partial<Pick<PortableSession, 'createdAt' | 'updatedAt'>>;
}

function readCopyState(record: SessionRecord): CopyState | undefined {
  const state = record.sessionState as Partial<CopyState>;
  return typeof state.rekeyOf === 'string' &&
    typeof state.complete === 'boolean' &&
    state.session !== undefined
    ? (state as CopyState)
    : undefined;
}

/** Whether a session (its record and every run) decrypts with `storage`'s keys. */
async function readable(storage: SessionStorage, sessionId: string): Promise<boolean> {
  try {
    const record = await storage.getSession(sessionId);
    if (record === undefined) return true;
    for await (const _run of readRuns(storage, record, await firstKeptIndex(storage, record))) {
      // Decrypting is the check.
    }
    return true;
  } catch (error) {
    if (BuddyError.is(error, 'DECRYPTION_FAILED')) return false;
    throw error;
  }
}

/** Rewrites the session from its complete copy, then deletes the copy. */
async function restoreFromCopy(
  raw: SessionStorage,
  writer: SessionStorage,
  copy: SessionRecord,
  state: CopyState,
): Promise<number> {
  await raw.deleteSession(state.rekeyOf);
  const { session } = state;
  const restored: PortableSession = {
    sessionId: state.rekeyOf,
    ...(session.userId === undefined ? {} : { userId: session.userId }),
    ...(session.agentId === undefined ? {} : { agentId: session.agentId }),
    ...(copy.sessionName === undefined ? {} : { sessionName: copy.sessionName }),
    sessionState: session.sessionState,
    ...(copy.summary === undefined ? {} : { summary: copy.summary }),
    ...(session.metadata === undefined ? {} : { metadata: session.metadata }),
    ...(copy.pendingRun === undefined ? {} : { pendingRun: copy.pendingRun }),
    // A copy made by an older `buddy` has no times in its state: its own are the best there is.
    createdAt: typeof session.createdAt === 'number' ? session.createdAt : copy.createdAt,
    updatedAt: typeof session.updatedAt === 'number' ? session.updatedAt : copy.updatedAt,
    runCount: copy.runCount,
  };
  const result = await writeSession(writer, restored, readRuns(writer, copy, 0), { firstIndex: 0 });
  await raw.deleteSession(copy.sessionId);
  return result.runsWritten;
}

/** Finishes what an interrupted rekey left: restores complete copies, drops incomplete ones. */
async function recover(raw: SessionStorage, writer: SessionStorage): Promise<number> {
  const copies: string[] = [];
  for await (const info of listEverySession(raw)) {
    if (info.sessionId.startsWith(TEMP_PREFIX) && info.userId === undefined)
      copies.push(info.sessionId);
  }
  let recovered = 0;
  for (const copyId of copies) {
    let copy: SessionRecord | undefined;
    try {
      copy = await writer.getSession(copyId);
    } catch (error) {
      if (BuddyError.is(error, 'DECRYPTION_FAILED')) continue; // not ours (another key)
      throw error;
    }
    const state = copy === undefined ? undefined : readCopyState(copy);
    if (copy === undefined || state === undefined || tempIdOf(state.rekeyOf) !== copyId) continue;
    if (state.complete) {
      await restoreFromCopy(raw, writer, copy, state);
      recovered++;
    } else {
      await raw.deleteSession(copyId);
    }
  }
  return recovered;
}

/** `buddy rekey`. */
export const rekeyCommand: Command = {
  name: 'rekey',
  summary: 're-encrypt a place in place with a new key',
  usage: 'buddy rekey <url> --new-key-file <path> [--key-file <path>] [--from-plain] [--user U]',
  details: `Options:
  --new-key-file <path>        the new key, base64 of 32 bytes (default: $BUDDY_NEW_ENCRYPTION_KEY)
  --key-file <path>            the current key (default: $BUDDY_ENCRYPTION_KEY)
  --previous-key-file <path>   another old key still in use; repeatable
  --from-plain                 the place is not encrypted yet: encrypt it
  --user U                     only this user's sessions and memories
Stop the agents writing to the place first; configure them with the new key afterwards.
Sessions keep their times; memory embeddings are dropped (computed again from the text).`,
  options: {
    'new-key-file': { type: 'string' },
    'key-file': { type: 'string' },
    'previous-key-file': { type: 'string', multiple: true },
    'from-plain': { type: 'boolean' },
    user: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: ['url'],
  async run({ io, values, positionals, logger }) {
    const newKey = readKey(io, stringOption(values, 'new-key-file'), NEW_KEY_ENV);
    if (newKey === undefined) {
      throw usageError(`buddy rekey needs the new key: --new-key-file <path> or $${NEW_KEY_ENV}`);
    }
    const fromPlain = values['from-plain'] === true;
    let oldKeys: EncryptionKeys | undefined;
    if (!fromPlain) {
      oldKeys = keysFromOptions(
        io,
        stringOption(values, 'key-file'),
        stringsOption(values, 'previous-key-file'),
      );
      if (oldKeys === undefined) {
        throw usageError(
          `buddy rekey needs the current key (--key-file <path> or $${KEY_ENV}), or --from-plain for a place that is not encrypted`,
        );
      }
    }
    const userId = stringOption(values, 'user');
    const place = await openPlace(io, positionals[0] as string, { mode: 'read', logger });
    const progress = new Progress(io.stderr, 'rekey');
    try {
      const raw = place.rawStorage;
      const writer = encryptedStorage(raw, { key: newKey, logger });
      const writerMemories = encryptedMemoryDb(place.rawMemoryDb, { key: newKey });
      const previousKeys =
        oldKeys === undefined ? [] : [oldKeys.key, ...(oldKeys.previousKeys ?? [])];
      const reader = fromPlain ? raw : encryptedStorage(raw, { key: newKey, previousKeys, logger });
      const readerMemories: MemoryDb = fromPlain
        ? place.rawMemoryDb
        : encryptedMemoryDb(place.rawMemoryDb, { key: newKey, previousKeys });

      const recovered = await recover(raw, writer);
      const walk = await walkSessionsOldestFirst(raw, userId);
      const users = new Set<string>(userId === undefined ? [] : [userId]);
      const done = { sessions: 0, runs: 0, alreadyNew: 0, memories: 0, recovered };
      let seen = 0;
      for await (const info of walk.sessions) {
        seen++;
        progress.update(seen, walk.total, 'sessions', `${done.runs} runs`);
        if (info.sessionId.startsWith(TEMP_PREFIX) && info.userId === undefined) continue;
        if (info.userId !== undefined) users.add(info.userId);
        if (await readable(writer, info.sessionId)) {
          done.alreadyNew++;
          continue;
        }
        const record = await reader.getSession(info.sessionId);
        if (record === undefined) continue;
        const copyId = tempIdOf(record.sessionId);
        const first = await firstKeptIndex(reader, record);
        const portable = toPortable(record);
        const copyState = (complete: boolean): CopyState => ({
          rekeyOf: record.sessionId,
          complete,
          session: {
            ...(portable.userId === undefined ? {} : { userId: portable.userId }),
            ...(portable.agentId === undefined ? {} : { agentId: portable.agentId }),
            ...(portable.metadata === undefined ? {} : { metadata: portable.metadata }),
            sessionState: portable.sessionState,
            createdAt: portable.createdAt,
            updatedAt: portable.updatedAt,
          },
        });
        const copy: PortableSession = {
          sessionId: copyId,
          ...(portable.sessionName === undefined ? {} : { sessionName: portable.sessionName }),
          sessionState: copyState(false) as unknown as Record<string, unknown>,
          ...(portable.summary === undefined ? {} : { summary: portable.summary }),
          ...(portable.pendingRun === undefined ? {} : { pendingRun: portable.pendingRun }),
          createdAt: record.createdAt,
          updatedAt: record.updatedAt,
          runCount: record.runCount,
        };
        await raw.deleteSession(copyId);
        // The copy is a fresh record (its times are the write's); the session's are in its state.
        await writeSession(writer, copy, readRuns(reader, record, first), {
          firstIndex: first,
          keepTimes: false,
        });
        const complete = await writer.upsertSession({
          sessionId: copyId,
          sessionState: copyState(true) as unknown as Record<string, unknown>,
        });
        done.runs += await restoreFromCopy(raw, writer, complete, copyState(true));
        done.sessions++;
      }
      for (const user of users) {
        for (const memory of await readerMemories.readMemories({ userId: user })) {
          // From plaintext, a row already encrypted (an interrupted run) is not encrypted twice.
          if (fromPlain && isEncryptedText(memory.memory)) continue;
          await writerMemories.upsertMemory({
            id: memory.id,
            userId: memory.userId,
            memory: memory.memory,
            ...(memory.topics === undefined ? {} : { topics: memory.topics }),
            ...(memory.input === undefined ? {} : { input: memory.input }),
            createdAt: memory.createdAt,
            updatedAt: memory.updatedAt,
          });
          done.memories++;
        }
      }
      progress.done();
      const problems = await verify(raw, writer, writerMemories, userId, users);
      const keyId = encryptionKeyId(newKey);
      if (values.json === true) {
        io.stdout.write(
          `${JSON.stringify({ url: place.url.display, keyId, ...done, verified: problems.length === 0, problems })}\n`,
        );
      } else {
        io.stdout.write(
          `Re-encrypted ${done.sessions} sessions (${done.runs} runs) and ${done.memories} memories in ${place.url.display} with key ${keyId}${done.alreadyNew > 0 ? `; ${done.alreadyNew} sessions already were` : ''}${recovered > 0 ? `; finished ${recovered} left by an interrupted rekey` : ''}\n`,
        );
      }
      if (problems.length > 0) {
        for (const problem of problems.slice(0, 20))
          io.stderr.write(`buddy: not verified: ${problem}\n`);
        throw cliFailure(
          'DECRYPTION_FAILED',
          `${problems.length} record(s) do not decrypt with the new key alone; keep the old keys and run rekey again`,
        );
      }
      return 0;
    } finally {
      progress.done();
      await place.close();
    }
  },
};

async function verify(
  raw: SessionStorage,
  storage: SessionStorage,
  memories: MemoryDb,
  userId: string | undefined,
  users: Set<string>,
): Promise<string[]> {
  const problems: string[] = [];
  // Listed without decryption: a name under an old key is one problem, not a failed listing.
  for await (const info of listEverySession(raw, userId)) {
    if (!(await readable(storage, info.sessionId)))
      problems.push(`session ${JSON.stringify(info.sessionId)}`);
  }
  for (const user of users) {
    try {
      await memories.readMemories({ userId: user });
    } catch (error) {
      if (!BuddyError.is(error, 'DECRYPTION_FAILED')) throw error;
      problems.push(`memories of user ${JSON.stringify(user)}`);
    }
  }
  return problems;
}
