/**
 * `buddy import <url> [file.jsonl] [--on-conflict fail|skip|replace]`: writes an export into a
 * place. The whole file is checked first (JSON, `ExportRecordSchema`, the contract's write
 * validators, the order of lines, the end line's counts) before the place is even opened, so a
 * broken line is one error naming its line number and nothing is written anywhere. Then, with
 * `--on-conflict fail` (the default), a session or memory that already exists there stops the
 * import, again before anything is written; `skip` leaves existing sessions (and memories) as
 * they are; `replace` deletes an existing session first. Standard input is read when no file is
 * given (spooled to a private temporary file: two passes need to read it twice).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ExportRecord, MemoryDb, SessionRecord, StoredRun, UserMemory } from '@buddy/core';
import { cliFailure, usageError } from '../cli-errors.ts';
import type { CliIo } from '../cli-io.ts';
import { type Command, KEY_HELP, KEY_OPTIONS, stringOption, stringsOption } from '../command.ts';
import { keysFromOptions } from '../encryption-keys.ts';
import { ExportChecker, parseExportLine } from '../export-checker.ts';
import { type NumberedLine, readLines } from '../line-reader.ts';
import { openPlace } from '../open-place.ts';
import { Progress } from '../progress.ts';
import { keepListingOrder, type PortableSession, writeSession } from '../session-writer.ts';

type Conflict = 'fail' | 'skip' | 'replace';

async function spoolStdin(io: CliIo): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'buddy-import-'));
  const file = join(directory, 'stdin.jsonl');
  await pipeline(io.stdin, createWriteStream(file, { mode: 0o600 }));
  return { file, cleanup: () => rm(directory, { recursive: true, force: true }) };
}

/** The records of a checked file, in order, with lookahead for a session's runs. */
class RecordStream {
  readonly #lines: AsyncIterator<NumberedLine>;
  #peeked: ExportRecord | undefined;
  #done = false;

  constructor(file: string) {
    this.#lines = readLines(file)[Symbol.asyncIterator]();
  }

  async next(): Promise<ExportRecord | undefined> {
    if (this.#peeked !== undefined) {
      const record = this.#peeked;
      this.#peeked = undefined;
      return record;
    }
    while (!this.#done) {
      const result = await this.#lines.next();
      if (result.done === true) {
        this.#done = true;
        return undefined;
      }
      const record = parseExportLine(result.value.text, result.value.lineNumber);
      if (record !== undefined) return record;
    }
    return undefined;
  }

  /** The runs right after the current session line. */
  async *runs(): AsyncGenerator<StoredRun> {
    for (;;) {
      const record = await this.next();
      if (record === undefined) return;
      if (record.type !== 'run') {
        this.#peeked = record;
        return;
      }
      const { type: _type, ...run } = record;
      yield run as StoredRun;
    }
  }

  async close(): Promise<void> {
    await this.#lines.return?.();
  }
}

function portable(record: Extract<ExportRecord, { type: 'session' }>): PortableSession {
  const { type: _type, ...session } = record;
  return session as PortableSession;
}

async function existingMemoryIds(
  db: MemoryDb,
  userId: string,
  cache: Map<string, Map<string, unknown>>,
) {
  let ids = cache.get(userId);
  if (ids === undefined) {
    ids = new Map((await db.readMemories({ userId })).map((memory) => [memory.id, memory]));
    cache.set(userId, ids);
  }
  return ids;
}

/** `buddy import`. */
export const importCommand: Command = {
  name: 'import',
  summary: 'write an export (JSON Lines) into a place',
  usage: 'buddy import <url> [file.jsonl] [--on-conflict fail|skip|replace]',
  details: `Reads standard input when no file is given. Every line is checked before anything is
written; a broken line is reported with its number.
Options:
  --on-conflict fail      stop, writing nothing, when a session or memory of the file exists (default)
  --on-conflict skip      leave existing sessions and memories as they are
  --on-conflict replace   delete an existing session first; overwrite existing memories
${KEY_HELP}`,
  options: {
    'on-conflict': { type: 'string' },
    json: { type: 'boolean' },
    ...KEY_OPTIONS,
  },
  positionals: ['url', 'file'],
  optionalPositionals: 1,
  async run({ io, values, positionals, logger }) {
    const conflict = (stringOption(values, 'on-conflict') ?? 'fail') as Conflict;
    if (!['fail', 'skip', 'replace'].includes(conflict)) {
      throw usageError(
        `--on-conflict must be fail, skip or replace, got ${JSON.stringify(conflict)}`,
      );
    }
    const keys = keysFromOptions(
      io,
      stringOption(values, 'key-file'),
      stringsOption(values, 'previous-key-file'),
    );
    const [url, given] = positionals as [string, string | undefined];
    const spooled = given === undefined ? await spoolStdin(io) : undefined;
    const file = spooled?.file ?? resolve(io.cwd, given as string);
    const progress = new Progress(io.stderr, 'import');
    try {
      // Pass 1: the whole file, before the place is opened.
      const checker = new ExportChecker();
      const sessionLines: { sessionId: string; lineNumber: number }[] = [];
      const memoryLines: { id: string; userId: string; lineNumber: number }[] = [];
      try {
        for await (const { text, lineNumber } of readLines(file)) {
          const record = checker.line(text, lineNumber);
          if (conflict !== 'fail') continue;
          if (record?.type === 'session')
            sessionLines.push({ sessionId: record.sessionId, lineNumber });
          if (record?.type === 'memory')
            memoryLines.push({ id: record.id, userId: record.userId, lineNumber });
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw cliFailure('NOT_FOUND', `no such file ${JSON.stringify(given)}`, error);
        }
        throw error;
      }
      checker.end();
      const total = checker.counts;

      const place = await openPlace(io, url, { mode: 'write', keys, logger });
      try {
        const memoryCache = new Map<string, Map<string, unknown>>();
        // With --on-conflict fail, anything that exists stops the import before any write.
        for (const { sessionId, lineNumber } of sessionLines) {
          if ((await place.storage.getSession(sessionId)) !== undefined) {
            throw cliFailure(
              'CONFLICT',
              `line ${lineNumber}: session ${JSON.stringify(sessionId)} already exists in ${place.url.display} (nothing was imported; use --on-conflict skip or replace)`,
            );
          }
        }
        for (const { id, userId, lineNumber } of memoryLines) {
          if ((await existingMemoryIds(place.memoryDb, userId, memoryCache)).has(id)) {
            throw cliFailure(
              'CONFLICT',
              `line ${lineNumber}: memory ${JSON.stringify(id)} of user ${JSON.stringify(userId)} already exists in ${place.url.display} (nothing was imported; use --on-conflict skip or replace)`,
            );
          }
        }

        // Pass 2: write, in the file's order (the source's listing order).
        const done = { sessions: 0, runs: 0, memories: 0, skippedSessions: 0, skippedMemories: 0 };
        const records = new RecordStream(file);
        let previous: SessionRecord | undefined;
        const draw = (force = false) =>
          progress.update(
            done.sessions + done.skippedSessions,
            total.sessions,
            'sessions',
            `${done.runs}/${total.runs} runs  ${done.memories}/${total.memories} memories`,
            force,
          );
        try {
          for (
            let record = await records.next();
            record !== undefined;
            record = await records.next()
          ) {
            if (record.type === 'session') {
              const session = portable(record);
              const existing = await place.storage.getSession(session.sessionId);
              if (existing !== undefined && conflict === 'skip') {
                for await (const _run of records.runs()) {
                  // Skipped with its session.
                }
                done.skippedSessions++;
                draw();
                continue;
              }
              if (existing !== undefined) await place.storage.deleteSession(session.sessionId);
              const runs = records.runs();
              const counted = (async function* () {
                for await (const run of runs) {
                  done.runs++;
                  draw();
                  yield run;
                }
              })();
              const result = await writeSession(place.storage, session, counted, {});
              previous = await keepListingOrder(place.storage, previous, result.record);
              done.sessions++;
              draw();
            } else if (record.type === 'memory') {
              const { type: _type, ...memory } = record;
              if (conflict === 'skip') {
                const found = (
                  await existingMemoryIds(place.memoryDb, memory.userId, memoryCache)
                ).get(memory.id);
                if (found !== undefined) {
                  done.skippedMemories++;
                  continue;
                }
              }
              await place.memoryDb.upsertMemory(memory as UserMemory);
              done.memories++;
              draw();
            }
          }
        } finally {
          await records.close();
        }
        progress.done();
        const skipped =
          done.skippedSessions + done.skippedMemories === 0
            ? ''
            : `; skipped ${done.skippedSessions} sessions and ${done.skippedMemories} memories that exist`;
        if (values.json === true) {
          io.stdout.write(`${JSON.stringify({ url: place.url.display, ...done })}\n`);
        } else {
          io.stdout.write(
            `Imported ${done.sessions} sessions (${done.runs} runs) and ${done.memories} memories into ${place.url.display}${skipped}\n`,
          );
        }
        return 0;
      } finally {
        progress.done();
        await place.close();
      }
    } finally {
      await spooled?.cleanup();
    }
  },
};
