/**
 * zod schemas for everything storage keeps. Backends validate each record they read with these,
 * so a corrupt row is reported (`STORAGE_CORRUPT`) instead of flowing into a run.
 */
import { z } from 'zod';

const metadata = {
  id: z.string().min(1),
  createdAt: z.number().finite(),
  runId: z.string().min(1),
};

/** A tool call as stored. */
export const ToolCallSchema = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.string(),
});

/** A stored message: one of the four roles, with its id, time and run. */
export const StoredMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string(), ...metadata }),
  z.object({ role: z.literal('user'), content: z.string(), ...metadata }),
  z.object({
    role: z.literal('assistant'),
    content: z.string(),
    toolCalls: z.array(ToolCallSchema).optional(),
    ...metadata,
  }),
  z.object({
    role: z.literal('tool'),
    toolCallId: z.string(),
    toolName: z.string(),
    content: z.string(),
    isError: z.boolean().optional(),
    ...metadata,
  }),
]);

/** Token counts. */
export const UsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
});

/** A stored run, as `parseStoredRun` reads it back. */
export const StoredRunSchema = z.object({
  runId: z.string().min(1),
  sessionId: z.string().min(1),
  index: z.number().int().nonnegative(),
  userId: z.string().optional(),
  agentId: z.string().optional(),
  messages: z.array(StoredMessageSchema),
  usage: UsageSchema,
  model: z.object({ provider: z.string(), id: z.string() }),
  createdAt: z.number(),
  completedAt: z.number(),
  stateAfter: z.record(z.string(), z.unknown()).optional(),
});

/** A stored session summary. */
export const SessionSummaryRecordSchema = z.object({
  summary: z.string(),
  topics: z.array(z.string()).optional(),
  runsCovered: z.number().int().nonnegative(),
  updatedAt: z.number(),
});

/** A stored session state: an object (its values are checked as JSON when written). */
export const SessionStateSchema = z.record(z.string(), z.unknown());

/** A stored session record, as `parseSessionRecord` reads it back. */
export const SessionRecordSchema = z.object({
  sessionId: z.string().min(1),
  /** Absent on records written before 0.2; `parseSessionRecord` derives one. */
  incarnation: z.string().min(1).optional(),
  agentId: z.string().optional(),
  userId: z.string().optional(),
  sessionName: z.string().optional(),
  sessionState: SessionStateSchema,
  summary: SessionSummaryRecordSchema.optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  version: z.number().int().positive(),
  runCount: z.number().int().nonnegative(),
});

/** A stored user memory. */
export const UserMemorySchema = z.object({
  id: z.string().min(1),
  userId: z.string().min(1),
  memory: z.string(),
  topics: z.array(z.string()).optional(),
  input: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
