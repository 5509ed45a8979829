export type {
  AgentMemoryContract,
  AgentMemoryHost,
} from './agent-memory-v1.ts';
export type { MemoryDb, ReadMemoriesInput, UserMemory } from './memory-db-v1.ts';
export type {
  FinishReason,
  JsonSchema,
  Model,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelResponseFormat,
  ModelStreamPart,
  ModelToolChoice,
  ModelToolDefinition,
} from './model-v1.ts';
export type {
  AcquireLeaseInput,
  AppendRunInput,
  AppendRunResult,
  GetRunsInput,
  ListSessionsInput,
  ListSessionsResult,
  SessionInfo,
  SessionLease,
  SessionRecord,
  SessionStorage,
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from './session-storage-v1.ts';
