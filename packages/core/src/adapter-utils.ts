/**
 * `@buddy/core/adapter-utils`: what an author of a storage backend, memory db or model adapter
 * needs, so that every backend validates, pages, parses, fences and fails the same way. App
 * developers do not need this entry; the runtime lives in `@buddy/core`, the contract types in
 * `@buddy/core/spec`.
 */

// Helpers for model adapters
export { assertModel } from './agent/assert-model.ts';
export {
  DEFAULT_MODEL_ID,
  DEFAULT_MODEL_PACKAGE,
  loadDefaultModel,
  type ModuleImporter,
} from './agent/default-model.ts';
export { KeyedMutex } from './agent/keyed-mutex.ts';
export { parseToolArguments } from './agent/run-tool-loop.ts';
export { raceAbort } from './errors/to-buddy-error.ts';
export { stampMessage } from './messages/message-helpers.ts';
export {
  PendingRunRecordSchema,
  SessionRecordSchema,
  SessionStateSchema,
  SessionSummaryRecordSchema,
  StoredMessageSchema,
  StoredRunSchema,
  ToolCallSchema,
  UsageSchema,
  UserMemorySchema,
} from './messages/message-schema.ts';
export {
  type ApplyProviderOptionsConfig,
  applyProviderOptions,
} from './model-utils/apply-provider-options.ts';
export {
  type AssertModelSettingsOptions,
  assertModelSettings,
  MODEL_CLIENT_SETTINGS,
  type ModelSettings,
} from './model-utils/assert-model-settings.ts';
export {
  checkedStream,
  checkModelResponse,
  checkStreamPart,
  checkToolCall,
  checkUsage,
  checkWarnings,
} from './model-utils/check-model-response.ts';
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
// Storage helpers: cursors, parsing, ownership, leases
export {
  assertEmbedding,
  assertInteger,
  assertNonEmptyString,
  assertOptionalUserId,
  compareMemories,
  compareSessionsForListing,
  corruptLeaseError,
  cosineSimilarity,
  DEFAULT_LIST_LIMIT,
  decodeSessionCursor,
  encodeSessionCursor,
  incarnationGoneError,
  isAfterCursor,
  isAllowedOwner,
  leaseLostError,
  legacyIncarnation,
  MAX_EMBEDDING_DIMENSIONS,
  MAX_LIST_LIMIT,
  memoryOwnershipError,
  newIncarnation,
  normalizeGetRunsInput,
  normalizeListSessionsInput,
  normalizeMemoryEmbedding,
  normalizeMemoryIdInput,
  normalizeReadMemoriesInput,
  normalizeSearchMemoriesInput,
  normalizeUpsertMemoryInput,
  normalizeUserIdInput,
  parseSessionRecord,
  parseSessionState,
  parseSessionSummary,
  parseStoredRun,
  parseUserMemory,
  type SessionCursor,
  sessionOwnershipError,
  shouldReplaceSummary,
  storageClosedError,
  toSessionInfo,
  waitForLease,
} from './storage/storage-helpers.ts';
export {
  assertAppendRunInput,
  assertLeaseInput,
  assertPendingRunRecord,
  assertRestoreTimes,
  assertRunInput,
  assertSessionMetadata,
  assertSessionName,
  assertSessionState,
  assertSessionSummaryRecord,
  assertStoredMessage,
  assertUpsertSessionInput,
  jsonEqual,
  MAX_EPOCH_MS,
  MAX_METADATA_LENGTH,
  MAX_SESSION_NAME_LENGTH,
  metadataMatches,
  normalizePruneInput,
  normalizeSessionOptions,
} from './storage/write-validators.ts';
export { toModelToolDefinition } from './tools/tool.ts';
// Validation shared by every writer (SPEC §10.1, §10.3)
export { assertId, assertOptionalId, idProblem, MAX_ID_LENGTH } from './validation/identifier.ts';
export {
  assertJsonObject,
  assertJsonValue,
  cloneJson,
  jsonPath,
  MAX_JSON_DEPTH,
} from './validation/json-value.ts';
export { isPlainObject, readOptions } from './validation/options.ts';
