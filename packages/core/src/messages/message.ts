/**
 * Messages: what a conversation is made of, what models receive and what storage keeps.
 *
 * Timestamps are epoch milliseconds (`Date.now()`): JSON-safe, sortable, and identical in every
 * backend. Fields `id`, `createdAt` and `runId` are optional on input (a caller writing
 * `{ role: 'user', content: 'hi' }`) and always present on messages Buddy stores or returns.
 */

/** A tool invocation requested by the model. */
export interface ToolCall {
  /** Provider-assigned id that the matching `ToolMessage.toolCallId` echoes. */
  id: string;
  /** The tool's name. */
  name: string;
  /** The arguments as JSON text, exactly as the model produced them (may be invalid JSON). */
  arguments: string;
}

/** Identity and time, present on every stored message. */
export interface MessageMetadata {
  id?: string;
  /** Epoch milliseconds. */
  createdAt?: number;
  /** The run that produced the message. */
  runId?: string;
}

/** Instructions for the model. Never stored with a run. */
export interface SystemMessage extends MessageMetadata {
  role: 'system';
  content: string;
}

/** What the user said. */
export interface UserMessage extends MessageMetadata {
  role: 'user';
  content: string;
}

/** What the model answered: text and/or tool calls. */
export interface AssistantMessage extends MessageMetadata {
  role: 'assistant';
  /** Text; may be empty when the message only requests tools. */
  content: string;
  toolCalls?: ToolCall[];
}

/** The result of one tool call. */
export interface ToolMessage extends MessageMetadata {
  role: 'tool';
  toolCallId: string;
  /** Name of the tool that produced the result (some providers need it). */
  toolName: string;
  /** The tool's result, or `Error: <message>` when it failed. */
  content: string;
  /** True when `content` reports a failure. */
  isError?: boolean;
}

/** Any message of a conversation. */
export type Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage;
/** `system`, `user`, `assistant` or `tool`. */
export type MessageRole = Message['role'];

/** A message as storage keeps it and `RunResponse` returns it. */
export type StoredMessage = Message & { id: string; createdAt: number; runId: string };

/** Token counts of one run or one model call. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** Which model answered. */
export interface ModelInfo {
  provider: string;
  id: string;
}

/** A (user message, final assistant message) pair of one run. */
export type MessagePair = [UserMessage, AssistantMessage];
