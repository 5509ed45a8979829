/**
 * Model replies checked at the boundary (SPEC §10.1): whatever an adapter returns, a run only ever
 * sees (and stores) a well-formed answer. A malformed reply — `toolCalls: 'x'`, `[null]`, a
 * content that is not text, usage that is not a count — is `MODEL_BAD_RESPONSE` naming the model
 * and the bad part, never a `TypeError` deep in the run and never a row that poisons a session.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type { ToolCall, Usage } from '../messages/message.ts';
import type {
  FinishReason,
  ModelResponse,
  ModelStreamPart,
  ModelWarning,
} from '../spec/model-v1.ts';

const FINISH_REASONS: readonly FinishReason[] = [
  'stop',
  'length',
  'tool-calls',
  'content-filter',
  'other',
];

function bad(who: string, message: string): BuddyError {
  return new BuddyError({
    code: 'MODEL_BAD_RESPONSE',
    message: `${who} answered with ${message}`,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks one tool call of a reply. */
export function checkToolCall(value: unknown, who: string, path: string): ToolCall {
  if (!isRecord(value))
    return fail(who, `${path} that is not a tool call (${describeValue(value)})`);
  const { id, name, arguments: args } = value;
  if (typeof id !== 'string' || id === '') {
    return fail(who, `${path}.id that is not a non-empty string (${describeValue(id)})`);
  }
  if (typeof name !== 'string' || name === '') {
    return fail(who, `${path}.name that is not a non-empty string (${describeValue(name)})`);
  }
  if (typeof args !== 'string') {
    return fail(who, `${path}.arguments that is not JSON text (${describeValue(args)})`);
  }
  return { id, name, arguments: args };
}

function fail(who: string, message: string): never {
  throw bad(who, message);
}

/** Checks the warnings of a reply (absent reads as none). */
export function checkWarnings(value: unknown, who: string): ModelWarning[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value))
    return fail(who, `warnings that are not an array (${describeValue(value)})`);
  return value.map((warning: unknown, index) => {
    if (
      isRecord(warning) &&
      warning.type === 'unsupported-setting' &&
      typeof warning.setting === 'string'
    ) {
      return {
        type: 'unsupported-setting',
        setting: warning.setting,
        ...(typeof warning.details === 'string' ? { details: warning.details } : {}),
      };
    }
    if (isRecord(warning) && warning.type === 'other' && typeof warning.message === 'string') {
      return { type: 'other', message: warning.message };
    }
    return fail(who, `warnings[${index}] that is not a warning (${describeValue(warning)})`);
  });
}

/** Checks usage counts (absent usage reads as zero). */
export function checkUsage(value: unknown, who: string): Usage {
  if (value === undefined) return { inputTokens: 0, outputTokens: 0 };
  if (!isRecord(value)) return fail(who, `usage that is not an object (${describeValue(value)})`);
  const counts: number[] = [];
  for (const key of ['inputTokens', 'outputTokens'] as const) {
    const count = value[key] ?? 0;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      fail(who, `usage.${key} that is not a token count (${describeValue(count)})`);
    }
    counts.push(count);
  }
  return { inputTokens: counts[0] ?? 0, outputTokens: counts[1] ?? 0 };
}

/**
 * Checks (and normalizes) a `generate()` result: `content` text (absent reads as `''`),
 * `toolCalls` an array of `{ id, name, arguments }` (absent reads as none), usage counts and a
 * known finish reason (absent or unknown reads as `'other'`). `who` names the model.
 */
export function checkModelResponse(value: unknown, who: string): ModelResponse {
  if (!isRecord(value)) return fail(who, `${describeValue(value)} instead of a response object`);
  const content = value.content ?? '';
  if (typeof content !== 'string')
    return fail(who, `content that is not text (${describeValue(content)})`);
  const rawCalls = value.toolCalls ?? [];
  if (!Array.isArray(rawCalls)) {
    return fail(who, `toolCalls that is not an array (${describeValue(rawCalls)})`);
  }
  const toolCalls = rawCalls.map((call: unknown, index) =>
    checkToolCall(call, who, `toolCalls[${index}]`),
  );
  const finish = value.finishReason;
  const finishReason = FINISH_REASONS.includes(finish as FinishReason)
    ? (finish as FinishReason)
    : 'other';
  const warnings = checkWarnings(value.warnings, who);
  return {
    content,
    toolCalls,
    usage: checkUsage(value.usage, who),
    finishReason,
    ...(warnings === undefined ? {} : { warnings }),
  };
}

/** Checks one part of a `stream()`; an unknown part type is `undefined` (ignored by callers). */
export function checkStreamPart(value: unknown, who: string): ModelStreamPart | undefined {
  if (!isRecord(value))
    return fail(who, `a stream part that is not an object (${describeValue(value)})`);
  switch (value.type) {
    case 'text-delta':
      if (typeof value.delta !== 'string') {
        return fail(who, `a text delta that is not text (${describeValue(value.delta)})`);
      }
      return { type: 'text-delta', delta: value.delta };
    case 'tool-call':
      return { type: 'tool-call', toolCall: checkToolCall(value.toolCall, who, 'toolCall') };
    case 'finish': {
      const finish = value.finishReason;
      const warnings = checkWarnings(value.warnings, who);
      return {
        type: 'finish',
        usage: checkUsage(value.usage, who),
        finishReason: FINISH_REASONS.includes(finish as FinishReason)
          ? (finish as FinishReason)
          : 'other',
        ...(warnings === undefined ? {} : { warnings }),
      };
    }
    case 'tool-call-delta': {
      const { toolCallId, toolName, argumentsDelta } = value;
      if (
        typeof toolCallId !== 'string' ||
        typeof argumentsDelta !== 'string' ||
        (toolName !== undefined && typeof toolName !== 'string')
      ) {
        return fail(who, `a tool call delta that is not text (${describeValue(value)})`);
      }
      return {
        type: 'tool-call-delta',
        toolCallId,
        ...(toolName === undefined ? {} : { toolName }),
        argumentsDelta,
      };
    }
    default:
      return undefined;
  }
}

/** Yields every part of a model stream checked (`checkStreamPart`), skipping unknown part types. */
export async function* checkedStream(
  parts: AsyncIterable<unknown>,
  who: string,
): AsyncGenerator<ModelStreamPart> {
  for await (const part of parts) {
    const checked = checkStreamPart(part, who);
    if (checked !== undefined) yield checked;
  }
}
