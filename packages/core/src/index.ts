/**
 * `@buddy/core`: the runtime (Agent, tools, errors, in-memory backends, templating) and the
 * contract types. Adapter authors also use `@buddy/core/adapter-utils` (validators, parsers,
 * cursors, lease waiting, model helpers); `@buddy/core/spec` holds the contract types alone.
 */

// Agent
export { Agent, cleanSessionName } from './agent/agent.ts';
export type {
  AgentListSessionsOptions,
  AgentOptions,
  ApprovalDecisions,
  PendingApprovalInfo,
  ResumeOptions,
  RunEvent,
  RunInput,
  RunOptions,
  RunResponse,
  SystemMessageContext,
} from './agent/agent-types.ts';
export {
  applyMergePatch,
  DEFAULT_TOOL_CALL_HISTORY,
  TOOL_CALL_HISTORY_TOOL,
  UPDATE_STATE_TOOL,
} from './agent/agentic-tools.ts';
export {
  CHAT_HISTORY_TOOL,
  DEFAULT_CHAT_HISTORY_PAIRS,
  MAX_RUNS_PER_PREVIOUS_SESSION,
  PREVIOUS_SESSIONS_TOOL,
} from './agent/builtin-tools.ts';
export {
  type ContextBudget,
  conservativeTokenCount,
  requestTokens,
} from './agent/context-budget.ts';
export {
  MAX_TOOL_ROUNDS,
  runToolLoop,
  type ToolLoopContext,
  type ToolLoopEvent,
  type ToolLoopInput,
  type ToolLoopRequestSettings,
  type ToolLoopResult,
  toModelMessages,
} from './agent/run-tool-loop.ts';
export {
  formatMemoriesSection,
  formatSummarySection,
  MEMORIES_CLOSE_TAG,
  MEMORIES_OPEN_TAG,
  SUMMARY_CLOSE_TAG,
  SUMMARY_OPEN_TAG,
} from './agent/system-message.ts';
// Errors
export { describeValue } from './errors/describe-value.ts';
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
// Logging
export {
  type ConsoleLoggerOptions,
  consoleLogger,
  createConsoleLogger,
  type LogLevel,
  silentLogger,
} from './logging/console-logger.ts';
// Messages
export { estimateTokens, runsToPairs, runToPair } from './messages/message-helpers.ts';
// Contracts (types only; also on their own in `@buddy/core/spec`)
export type * from './spec/index.ts';
export { templateState } from './templating/template-state.ts';
// Tools
export { isTool, type Tool, type ToolContext, type ToolDefinition, tool } from './tools/tool.ts';
