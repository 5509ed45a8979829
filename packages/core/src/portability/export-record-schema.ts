/**
 * The portable export format of Buddy data (SPEC §15.1), written by `buddy export` and read by
 * `buddy import`: JSON Lines, one record per line, each validated by `ExportRecordSchema`.
 *
 * ```jsonl
 * {"type":"header","format":"buddy-export","version":1,"exportedAt":"2027-01-05T10:00:00.000Z","source":"sqlite:agent.db"}
 * {"type":"session","sessionId":"s1","userId":"dana","sessionState":{"cart":["milk"]},"createdAt":1767600000000,"updatedAt":1767600005000,"runCount":1}
 * {"type":"run","runId":"r1","sessionId":"s1","index":0,"userId":"dana","messages":[…],"usage":{"inputTokens":12,"outputTokens":5},"model":{"provider":"openai","id":"gpt-4o-mini"},"createdAt":1767600001000,"completedAt":1767600005000,"stateAfter":{"cart":["milk"]},"status":"completed"}
 * {"type":"memory","id":"8d1e…","userId":"dana","memory":"Drinks oat milk","createdAt":1767600006000,"updatedAt":1767600006000}
 * {"type":"end","sessions":1,"runs":1,"memories":1}
 * ```
 *
 * Order: the header first; each session line followed by its runs (consecutive indexes, the
 * newest at `runCount - 1`; older ones may have been pruned); then the memories; the `end` line
 * last, whose counts let a reader tell a complete file from a cut one. What a storage assigns by
 * itself (`incarnation`, `version`) is not part of the format: a session imported elsewhere
 * starts a new incarnation there. Memory embeddings are not part of it either (the `MemoryDb`
 * contract has no way to read them back); they are computed again from the text.
 */
import { z } from 'zod';
import {
  PendingRunRecordSchema,
  SessionStateSchema,
  SessionSummaryRecordSchema,
  StoredRunSchema,
  UserMemorySchema,
} from '../messages/message-schema.ts';

/** The `format` of the header line. */
export const EXPORT_FORMAT = 'buddy-export';

/** The `version` of the header line this core writes and reads. */
export const EXPORT_VERSION = 1;

/** The first line: what the file is, when and where it was made. */
export const ExportHeaderSchema = z.strictObject({
  type: z.literal('header'),
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  /** ISO 8601 time of the export. */
  exportedAt: z.string().min(1),
  /** Where the data came from (a storage URL, without its password). */
  source: z.string(),
  /** Set when the export holds one user's data only. */
  userId: z.string().min(1).optional(),
});

/** One session without its runs. */
export const ExportSessionSchema = z.strictObject({
  type: z.literal('session'),
  sessionId: z.string().min(1),
  userId: z.string().min(1).optional(),
  agentId: z.string().min(1).optional(),
  sessionName: z.string().optional(),
  sessionState: SessionStateSchema,
  summary: SessionSummaryRecordSchema.optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  pendingRun: PendingRunRecordSchema.optional(),
  /** Epoch milliseconds, as in the source. */
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Runs the session has had; its newest run (if any is kept) has index `runCount - 1`. */
  runCount: z.number().int().nonnegative(),
});

/** One stored run of the session line before it. */
export const ExportRunSchema = z.strictObject({
  type: z.literal('run'),
  ...StoredRunSchema.shape,
});

/** One user memory. */
export const ExportMemorySchema = z.strictObject({
  type: z.literal('memory'),
  ...UserMemorySchema.shape,
});

/** The last line: how many records of each kind the file holds. */
export const ExportEndSchema = z.strictObject({
  type: z.literal('end'),
  sessions: z.number().int().nonnegative(),
  runs: z.number().int().nonnegative(),
  memories: z.number().int().nonnegative(),
});

/**
 * Any line of an export (JSON-parsed), told apart by `type`.
 *
 * @example
 * for await (const line of lines) {
 *   const record = ExportRecordSchema.parse(JSON.parse(line));
 *   if (record.type === 'run') console.log(record.sessionId, record.index);
 * }
 */
export const ExportRecordSchema = z.discriminatedUnion('type', [
  ExportHeaderSchema,
  ExportSessionSchema,
  ExportRunSchema,
  ExportMemorySchema,
  ExportEndSchema,
]);

/** Any line of an export. */
export type ExportRecord = z.infer<typeof ExportRecordSchema>;
/** The header line. */
export type ExportHeader = z.infer<typeof ExportHeaderSchema>;
/** A session line. */
export type ExportSession = z.infer<typeof ExportSessionSchema>;
/** A run line. */
export type ExportRun = z.infer<typeof ExportRunSchema>;
/** A memory line. */
export type ExportMemory = z.infer<typeof ExportMemorySchema>;
/** The end line. */
export type ExportEnd = z.infer<typeof ExportEndSchema>;
