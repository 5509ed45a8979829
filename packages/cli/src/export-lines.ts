/**
 * The lines of an export (the format of `ExportRecordSchema` in `@buddy/core`), produced one at a
 * time: the header, each session (oldest update first) followed by its runs, the memories of
 * every user seen (or of the one user asked for), and the end line with the counts.
 */
import {
  BuddyError,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportRecord,
  type MemoryDb,
  type SessionRecord,
  type SessionStorage,
  type StoredRun,
  type UserMemory,
} from '@buddy/core';
import {
  PendingRunRecordSchema,
  SessionSummaryRecordSchema,
  StoredRunSchema,
  UserMemorySchema,
} from '@buddy/core/adapter-utils';
import { refuseCiphertextMemory, refuseCiphertextSession } from './plain-guard.ts';
import { firstKeptIndex, readRuns, walkSessionsOldestFirst } from './session-source.ts';
import { toPortable } from './session-writer.ts';

/**
 * A JSON value with the keys of every object sorted. Free-form values (states, metadata) are
 * written this way, so the same data exports to the same bytes from every backend (PostgreSQL's
 * `jsonb` does not keep key order, SQLite and Redis do).
 */
export function sortedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortedKeys) as T;
  if (typeof value !== 'object' || value === null) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    sorted[key] = sortedKeys((value as Record<string, unknown>)[key]);
  }
  return sorted as T;
}

/*
 * Lines are built in one key order whatever the backend returned (through the stored records'
 * zod schemas, which is also how every backend reads them back), so that the same data is the
 * same bytes from every place.
 */

/** A session line: the record's portable fields, its free-form values with sorted keys. */
function sessionLine(record: SessionRecord): ExportRecord {
  const portable = toPortable(record);
  const pendingRun =
    portable.pendingRun === undefined
      ? undefined
      : PendingRunRecordSchema.parse(portable.pendingRun);
  return {
    type: 'session',
    ...portable,
    sessionState: sortedKeys(portable.sessionState),
    ...(portable.summary === undefined
      ? {}
      : { summary: SessionSummaryRecordSchema.parse(portable.summary) }),
    ...(portable.metadata === undefined ? {} : { metadata: sortedKeys(portable.metadata) }),
    ...(pendingRun === undefined
      ? {}
      : { pendingRun: { ...pendingRun, sessionState: sortedKeys(pendingRun.sessionState) } }),
  };
}

/** A run line, its `stateAfter` with sorted keys. */
function runLine(run: StoredRun): ExportRecord {
  const parsed = StoredRunSchema.parse(run);
  return {
    type: 'run',
    ...parsed,
    ...(parsed.stateAfter === undefined ? {} : { stateAfter: sortedKeys(parsed.stateAfter) }),
  };
}

/** A memory line. */
function memoryLine(memory: UserMemory): ExportRecord {
  return { type: 'memory', ...UserMemorySchema.parse(memory) };
}

/** Counts of what an export holds so far. */
export interface ExportCounts {
  sessions: number;
  runs: number;
  memories: number;
}

/** Options of `exportLines`. */
export interface ExportLinesOptions {
  /** The header's `source` (a URL without its password). */
  source: string;
  /** Only this user's sessions and memories. */
  userId?: string | undefined;
  /** Read without a key: ciphertext is refused (see `plain-guard.ts`). */
  plain?: boolean;
  /** Called with the total number of sessions once known, then after every record. */
  onProgress?: (counts: ExportCounts, totalSessions: number) => void;
  /** Called for a session that could not be read (corrupt, or deleted meanwhile), then skipped. */
  onSkip?: (sessionId: string, error: BuddyError | undefined) => void;
}

/** The export's lines, each one JSON text without its newline. */
export async function* exportLines(
  storage: SessionStorage,
  memoryDb: MemoryDb,
  options: ExportLinesOptions,
): AsyncGenerator<string> {
  const counts: ExportCounts = { sessions: 0, runs: 0, memories: 0 };
  const line = (record: ExportRecord) => JSON.stringify(record);
  yield line({
    type: 'header',
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: new Date().toISOString(),
    source: options.source,
    ...(options.userId === undefined ? {} : { userId: options.userId }),
  });
  const walk = await walkSessionsOldestFirst(storage, options.userId);
  options.onProgress?.(counts, walk.total);
  const users = new Set<string>(options.userId === undefined ? [] : [options.userId]);
  for await (const info of walk.sessions) {
    let record: Awaited<ReturnType<SessionStorage['getSession']>>;
    try {
      record = await storage.getSession(info.sessionId);
    } catch (error) {
      if (BuddyError.is(error) && error.code === 'STORAGE_CORRUPT') {
        options.onSkip?.(info.sessionId, error);
        continue;
      }
      throw error;
    }
    if (record === undefined) {
      options.onSkip?.(info.sessionId, undefined);
      continue;
    }
    if (options.plain === true) refuseCiphertextSession(record, options.source);
    if (record.userId !== undefined) users.add(record.userId);
    yield line(sessionLine(record));
    counts.sessions++;
    const first = await firstKeptIndex(storage, record);
    for await (const run of readRuns(storage, record, first)) {
      yield line(runLine(run));
      counts.runs++;
      if (counts.runs % 100 === 0) options.onProgress?.(counts, walk.total);
    }
    options.onProgress?.(counts, walk.total);
  }
  for (const userId of users) {
    for (const memory of await memoryDb.readMemories({ userId, sort: 'oldest' })) {
      if (options.plain === true) refuseCiphertextMemory(memory, options.source);
      yield line(memoryLine(memory));
      counts.memories++;
    }
    options.onProgress?.(counts, walk.total);
  }
  yield line({ type: 'end', ...counts });
}
