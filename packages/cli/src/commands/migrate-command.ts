/**
 * `buddy migrate <from-url> <to-url> [--user U]`: copies sessions, runs and memories from one
 * place to another, streaming (one page of runs in memory at a time), oldest session first so
 * the target lists them in the source's order.
 *
 * Resumable: every append is atomic, so an interrupted migration (even `kill -9`) leaves each
 * session with a prefix of its runs; running it again checks that prefix against the source
 * (same owner, same last run id) and copies only what is missing, so nothing is duplicated. A
 * target session that does not match the source is a conflict and stops the migration. At the
 * end it verifies: every source session is in the target with the same number of runs (and, on a
 * target that restores times, the same `createdAt` / `updatedAt`), and every source memory of
 * every user is there.
 */
import { resolve } from 'node:path';
import {
  BuddyError,
  type MemoryDb,
  type SessionRecord,
  type SessionStorage,
  type UserMemory,
} from '@buddy/core';
import { jsonEqual } from '@buddy/core/adapter-utils';
import { cliFailure, usageError } from '../cli-errors.ts';
import type { CliIo } from '../cli-io.ts';
import { type Command, type OptionValues, stringOption, stringsOption } from '../command.ts';
import { encryptionKeys, KEY_ENV, readKey, readPreviousKeys } from '../encryption-keys.ts';
import { openPlace } from '../open-place.ts';
import { refuseCiphertextMemory, refuseCiphertextSession } from '../plain-guard.ts';
import { Progress } from '../progress.ts';
import {
  firstKeptIndex,
  listEverySession,
  readRuns,
  walkSessionsOldestFirst,
} from '../session-source.ts';
import { keepListingOrder, restoresTimes, toPortable, writeSession } from '../session-writer.ts';
import { parseStorageUrl, samePlace } from '../storage-url.ts';

/** The keys of one side of a migration: `--from-key-file` / `--to-key-file`, else the common ones. */
function sideKeys(io: CliIo, values: OptionValues, side: 'from' | 'to') {
  if (values[`${side}-plain`] === true) {
    if (values[`${side}-key-file`] !== undefined) {
      throw usageError(`--${side}-plain and --${side}-key-file exclude each other`);
    }
    return undefined;
  }
  const file = stringOption(values, `${side}-key-file`) ?? stringOption(values, 'key-file');
  return encryptionKeys(
    readKey(io, file, KEY_ENV),
    readPreviousKeys(io, stringsOption(values, 'previous-key-file')),
  );
}

function memoryFields(memory: UserMemory) {
  return {
    id: memory.id,
    userId: memory.userId,
    memory: memory.memory,
    ...(memory.topics === undefined ? {} : { topics: memory.topics }),
    ...(memory.input === undefined ? {} : { input: memory.input }),
    createdAt: memory.createdAt,
    updatedAt: memory.updatedAt,
  };
}

/** Copies the memories of one user that the target lacks or holds differently; returns counts. */
async function copyMemories(
  from: MemoryDb,
  to: MemoryDb,
  userId: string,
  plainFrom: string | undefined,
) {
  const source = await from.readMemories({ userId, sort: 'oldest' });
  if (plainFrom !== undefined)
    for (const memory of source) refuseCiphertextMemory(memory, plainFrom);
  const target = new Map((await to.readMemories({ userId })).map((memory) => [memory.id, memory]));
  let copied = 0;
  for (const memory of source) {
    const present = target.get(memory.id);
    if (present !== undefined && jsonEqual(memoryFields(present), memoryFields(memory))) continue;
    await to.upsertMemory(memoryFields(memory));
    copied++;
  }
  return { total: source.length, copied };
}

async function lastRunId(storage: SessionStorage, sessionId: string): Promise<string | undefined> {
  return (await storage.getRuns({ sessionId, last: 1 }))[0]?.runId;
}

/** `buddy migrate`. */
export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'copy everything (or one user) from one place to another; resumable, verified',
  usage: 'buddy migrate <from-url> <to-url> [--user U]',
  details: `Run it again after an interruption: it copies only what is missing.
Options:
  --user U                only this user's sessions and memories
  --key-file <path>       the key of both places (default: $BUDDY_ENCRYPTION_KEY)
  --from-key-file <path>  the source's key, when it differs
  --to-key-file <path>    the target's key, when it differs
  --from-plain            the source is not encrypted (also with a key configured)
  --to-plain              write the target in clear
  --previous-key-file <path>   an older key, for reading only; repeatable`,
  options: {
    user: { type: 'string' },
    'key-file': { type: 'string' },
    'previous-key-file': { type: 'string', multiple: true },
    'from-key-file': { type: 'string' },
    'to-key-file': { type: 'string' },
    'from-plain': { type: 'boolean' },
    'to-plain': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: ['from-url', 'to-url'],
  async run({ io, values, positionals, logger }) {
    const [fromUrl, toUrl] = positionals as [string, string];
    const userId = stringOption(values, 'user');
    const fromKeys = sideKeys(io, values, 'from');
    const toKeys = sideKeys(io, values, 'to');
    const from = await openPlace(io, fromUrl, { mode: 'read', keys: fromKeys, logger });
    try {
      if (samePlace(from.url, parseStorageUrl(toUrl), (file) => resolve(io.cwd, file))) {
        // It would read what it writes.
        throw cliFailure('INVALID_ARGUMENT', `${from.url.display} and ${toUrl} are the same place`);
      }
      const to = await openPlace(io, toUrl, { mode: 'write', keys: toKeys, logger });
      const progress = new Progress(io.stderr, 'migrate');
      try {
        const walk = await walkSessionsOldestFirst(from.storage, userId);
        const users = new Set<string>(userId === undefined ? [] : [userId]);
        const done = {
          sessions: 0,
          runs: 0,
          copiedSessions: 0,
          copiedRuns: 0,
          memories: 0,
          copiedMemories: 0,
        };
        let previous: SessionRecord | undefined;
        for await (const info of walk.sessions) {
          const record = await from.storage.getSession(info.sessionId);
          if (record === undefined) continue; // deleted meanwhile
          if (!from.encrypted) refuseCiphertextSession(record, from.url.display);
          if (record.userId !== undefined) users.add(record.userId);
          const first = await firstKeptIndex(from.storage, record);
          const sourceRuns = record.runCount - first;
          const existing = await to.storage.getSession(record.sessionId);
          let already = 0;
          if (existing !== undefined) {
            already = existing.runCount;
            const conflict =
              existing.userId !== record.userId
                ? `it belongs to ${JSON.stringify(existing.userId ?? null)} there, to ${JSON.stringify(record.userId ?? null)} here`
                : already > sourceRuns
                  ? `it has ${already} runs there, ${sourceRuns} here`
                  : already > 0 &&
                      (await lastRunId(to.storage, record.sessionId)) !==
                        (
                          await from.storage.getRuns({
                            sessionId: record.sessionId,
                            fromIndex: first + already - 1,
                            limit: 1,
                          })
                        )[0]?.runId
                    ? `its runs there are not the first ${already} runs here`
                    : undefined;
            if (conflict !== undefined) {
              throw cliFailure(
                'CONFLICT',
                `session ${JSON.stringify(record.sessionId)} exists in ${to.url.display} and differs: ${conflict} (nothing of it was written; delete it there or import with --on-conflict replace)`,
              );
            }
          }
          const result = await writeSession(
            to.storage,
            toPortable(record),
            readRuns(from.storage, record, first + already),
            { firstIndex: first, existing },
          );
          if (result.changed) {
            previous = await keepListingOrder(to.storage, previous, result.record);
            done.copiedSessions++;
          }
          done.sessions++;
          done.runs += sourceRuns;
          done.copiedRuns += result.runsWritten;
          progress.update(done.sessions, walk.total, 'sessions', `${done.runs} runs`);
        }
        for (const user of users) {
          const counts = await copyMemories(
            from.memoryDb,
            to.memoryDb,
            user,
            from.encrypted ? undefined : from.url.display,
          );
          done.memories += counts.total;
          done.copiedMemories += counts.copied;
        }
        progress.done();

        // Verification: what the source holds now is in the target.
        const problems = await verify(
          from.storage,
          to.storage,
          from.memoryDb,
          to.memoryDb,
          userId,
          users,
        );
        const summary = `${done.sessions} sessions (${done.runs} runs) and ${done.memories} memories of ${users.size} users`;
        if (values.json === true) {
          io.stdout.write(
            `${JSON.stringify({ from: from.url.display, to: to.url.display, ...done, users: users.size, verified: problems.length === 0, problems })}\n`,
          );
        } else {
          io.stdout.write(
            `Copied ${done.copiedSessions} sessions (${done.copiedRuns} runs) and ${done.copiedMemories} memories from ${from.url.display} to ${to.url.display}\n`,
          );
        }
        if (problems.length > 0) {
          for (const problem of problems.slice(0, 20))
            io.stderr.write(`buddy: not verified: ${problem}\n`);
          throw cliFailure(
            'CONFLICT',
            `verification failed: ${problems.length} difference(s) between ${from.url.display} and ${to.url.display} (did something write to the source meanwhile? run migrate again)`,
          );
        }
        if (values.json !== true)
          io.stdout.write(`Verified: ${summary} are in ${to.url.display}\n`);
        return 0;
      } finally {
        progress.done();
        await to.close();
      }
    } finally {
      await from.close();
    }
  },
};

async function verify(
  from: SessionStorage,
  to: SessionStorage,
  fromMemories: MemoryDb,
  toMemories: MemoryDb,
  userId: string | undefined,
  users: Set<string>,
): Promise<string[]> {
  const problems: string[] = [];
  for await (const info of listEverySession(from, userId)) {
    const source = await from.getSession(info.sessionId);
    if (source === undefined) continue;
    const expected = source.runCount - (await firstKeptIndex(from, source));
    let target: SessionRecord | undefined;
    try {
      target = await to.getSession(info.sessionId);
    } catch (error) {
      problems.push(
        `session ${JSON.stringify(info.sessionId)}: ${BuddyError.is(error) ? error.message : String(error)}`,
      );
      continue;
    }
    if (target === undefined) problems.push(`session ${JSON.stringify(info.sessionId)} is missing`);
    else if (target.runCount !== expected) {
      problems.push(
        `session ${JSON.stringify(info.sessionId)} has ${target.runCount} runs, the source ${expected}`,
      );
    } else if (
      restoresTimes(to) &&
      (target.createdAt !== source.createdAt || target.updatedAt !== source.updatedAt)
    ) {
      problems.push(
        `session ${JSON.stringify(info.sessionId)} has the times ${target.createdAt}/${target.updatedAt} (created/updated), the source ${source.createdAt}/${source.updatedAt}`,
      );
    }
  }
  for (const user of users) {
    const source = await fromMemories.readMemories({ userId: user });
    const target = new Set(
      (await toMemories.readMemories({ userId: user })).map((memory) => memory.id),
    );
    const missing = source.filter((memory) => !target.has(memory.id)).length;
    if (missing > 0)
      problems.push(
        `user ${JSON.stringify(user)}: ${missing} of ${source.length} memories are missing`,
      );
  }
  return problems;
}
