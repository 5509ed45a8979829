// Agent
export { Agent, cleanSessionName } from './agent/agent.ts';
export type {
  AgentListSessionsOptions,
  AgentOptions,
  RunEvent,
  RunInput,
  RunOptions,
  RunResponse,
  SystemMessageContext,
} from './agent/agent-types.ts';
export { assertModel } from './agent/assert-model.ts';
export {
  CHAT_HISTORY_TOOL,
  DEFAULT_CHAT_HISTORY_PAIRS,
  MAX_RUNS_PER_PREVIOUS_SESSION,
  PREVIOUS_SESSIONS_TOOL,
} from './agent/builtin-tools.ts';
export {
  DEFAULT_MODEL_ID,
  DEFAULT_MODEL_PACKAGE,
  loadDefaultModel,
  type ModuleImporter,
} from './agent/default-model.ts';
export { KeyedMutex } from './agent/keyed-mutex.ts';
export { MAX_TOOL_ROUNDS, parseToolArguments } from './agent/run-model-loop.ts';
export {
  formatMemoriesSection,
  formatSummarySection,
  MEMORIES_CLOSE_TAG,
  MEMORIES_OPEN_TAG,
  SUMMARY_CLOSE_TAG,
  SUMMARY_OPEN_TAG,
} from './agent/system-message.ts';
// Errors
export {
  BUDDY_ERROR_CODES,
  BuddyError,
  type BuddyErrorCode,
  type BuddyErrorDetails,
  type BuddyErrorOptions,
  isAbortError,
  isRetryableByDefault,
  throwIfAborted,
  toBuddyError,
} from './errors/index.ts';
// Reference implementations
export { InMemoryMemoryDb } from './in-memory/in-memory-memory-db.ts';
export {
  InMemoryStorage,
  InMemoryStorageBacking,
  type InMemoryStorageOptions,
} from './in-memory/in-memory-storage.ts';
export { consoleLogger, type Logger, silentLogger } from './internal/logger.ts';
// Messages
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
} from './messages/message.ts';
export {
  estimateTokens,
  runsToPairs,
  runToPair,
  stampMessage,
} from './messages/message-helpers.ts';
export {
  SessionRecordSchema,
  SessionSummaryRecordSchema,
  StoredMessageSchema,
  StoredRunSchema,
  UserMemorySchema,
} from './messages/message-schema.ts';
// Helpers for model adapters
export {
  type AssertModelSettingsOptions,
  assertModelSettings,
  MODEL_CLIENT_SETTINGS,
  type ModelSettings,
} from './model-utils/assert-model-settings.ts';
export {
  type ClassifyHttpStatusOptions,
  classifyHttpStatus,
  MODEL_ERROR_CLASSIFICATIONS,
  type ModelErrorClassification,
} from './model-utils/classify-http-status.ts';
export {
  createLazyClient,
  type DefinedSettings,
  type LazyClientOptions,
  type ModelClientSettings,
} from './model-utils/create-lazy-client.ts';
export {
  type MissingApiKeyErrorOptions,
  missingApiKeyError,
} from './model-utils/missing-api-key-error.ts';
export { type ModelCallErrorOptions, modelCallError } from './model-utils/model-call-error.ts';
export { type ToModelErrorOptions, toModelError } from './model-utils/to-model-error.ts';
// Contracts
export type * from './spec/index.ts';
// Helpers for storage backends
export {
  assertInteger,
  assertLeaseInput,
  assertNonEmptyString,
  assertOptionalUserId,
  assertSessionState,
  assertUserMemory,
  compareMemories,
  compareSessionsForListing,
  DEFAULT_LIST_LIMIT,
  decodeSessionCursor,
  describeValue,
  encodeSessionCursor,
  isAfterCursor,
  isAllowedOwner,
  leaseLostError,
  MAX_LIST_LIMIT,
  memoryOwnershipError,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  normalizeReadMemoriesInput,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
  parseStoredRun,
  parseUserMemory,
  type SessionCursor,
  sessionOwnershipError,
  shouldReplaceSummary,
  toSessionInfo,
  waitForLease,
} from './storage/storage-helpers.ts';
export { templateState } from './templating/template-state.ts';
// Tools
export {
  isTool,
  type Tool,
  type ToolContext,
  type ToolDefinition,
  toModelToolDefinition,
  tool,
} from './tools/tool.ts';
