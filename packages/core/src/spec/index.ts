/**
 * `@buddy/core/spec`: the versioned contracts, types only. Adapter authors implement these; this
 * entry has no runtime code (its emitted JavaScript imports nothing).
 */

export type {
  AssistantMessage,
  Message,
  MessageMetadata,
  MessagePair,
  MessageRole,
  ModelInfo,
  StoredMessage,
  SystemMessage,
  ToolCall,
  ToolMessage,
  Usage,
  UserMessage,
} from '../messages/message.ts';
export type {
  AgentMemoryContract,
  AgentMemoryHost,
  AgentMemoryTool,
  AgentMemoryV1,
} from './agent-memory-v1.ts';
export type { Embedder, EmbedderV1 } from './embedder-v1.ts';
export type { LogDetails, Logger } from './logger.ts';
export type {
  MemoryDb,
  MemoryDbV1,
  ReadMemoriesInput,
  ScoredMemory,
  SearchMemoriesInput,
  UpsertMemoryInput,
  UserMemory,
} from './memory-db-v1.ts';
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
  ModelV1,
  ModelV1Message,
  ModelWarning,
  ProviderOptions,
} from './model-v1.ts';
export type {
  AcquireLeaseInput,
  AppendRunInput,
  AppendRunResult,
  GetRunsInput,
  ListSessionsInput,
  ListSessionsResult,
  PendingApproval,
  PendingRunRecord,
  PruneInput,
  PruneResult,
  RestoreTimes,
  RunStatus,
  SessionInfo,
  SessionLease,
  SessionMetadata,
  SessionRecord,
  SessionStorage,
  SessionStorageCapabilities,
  SessionStorageV1,
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from './session-storage-v1.ts';
