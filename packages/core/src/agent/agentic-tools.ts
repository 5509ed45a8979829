/**
 * Tools the agent adds for itself (SPEC §16.1): `update_session_state` (`enableAgenticState`),
 * which applies a JSON merge patch (RFC 7396) to the run's state, and `get_tool_call_history`
 * (`readToolCallHistory`), this session's latest tool calls with their arguments and results.
 */
import { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import type { SessionStorage, StoredRun } from '../spec/session-storage-v1.ts';
import { type Tool, tool } from '../tools/tool.ts';
import { assertJsonObject, cloneJson } from '../validation/json-value.ts';
import { isPlainObject } from '../validation/options.ts';
import { applyStateSchema, SEEDED_KEYS, type StateSchema } from './session-state.ts';

/** Name of the tool `enableAgenticState` adds. */
export const UPDATE_STATE_TOOL = 'update_session_state';
/** Name of the tool `readToolCallHistory` adds. */
export const TOOL_CALL_HISTORY_TOOL = 'get_tool_call_history';
/** Calls `get_tool_call_history` returns when the model does not say how many. */
export const DEFAULT_TOOL_CALL_HISTORY = 3;
/** Runs read (newest first) to find them, so the tool's cost never grows with the session. */
export const MAX_RUNS_FOR_TOOL_CALL_HISTORY = 50;

/**
 * Applies a JSON merge patch (RFC 7396) to `target` and returns the result: `null` removes a key,
 * an object merges into the key's object, anything else replaces it. `target` is not changed.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return cloneJson(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** The `update_session_state` tool, validated against the agent's `stateSchema`. */
export function createUpdateStateTool(
  schema: StateSchema<Record<string, unknown>> | undefined,
): Tool {
  return tool({
    name: UPDATE_STATE_TOOL,
    description:
      'Changes the session state with a JSON merge patch (RFC 7396): keys in `patch` are set, nested objects are merged, and a key set to null is removed. Returns the new state.',
    parameters: z.object({
      patch: z
        .record(z.string(), z.unknown())
        .describe('The JSON merge patch to apply to the session state, e.g. {"cart": ["milk"]}.'),
    }),
    execute: ({ patch }, { sessionState, sessionId }) => {
      assertJsonObject(patch, 'patch');
      for (const key of SEEDED_KEYS) {
        if (Object.hasOwn(patch, key)) {
          throw new BuddyError({
            code: 'INVALID_ARGUMENT',
            message: `patch may not change ${key}: it is the run's own id`,
          });
        }
      }
      const next = applyMergePatch(sessionState, patch) as Record<string, unknown>;
      // An invalid result is a tool error the model sees; the state stays as it was.
      const checked = applyStateSchema(schema, next, {
        root: 'sessionState',
        blame: 'caller',
        sessionId,
        context: UPDATE_STATE_TOOL,
      });
      for (const key of Object.keys(sessionState)) delete sessionState[key];
      Object.assign(sessionState, checked);
      return JSON.stringify(sessionState);
    },
  }) as Tool;
}

interface ToolCallRecord {
  name: string;
  arguments: unknown;
  result: string | undefined;
  isError?: boolean;
  runId: string;
  at: string;
}

function callsOf(run: StoredRun): ToolCallRecord[] {
  const results = new Map<string, { content: string; isError?: boolean }>();
  for (const message of run.messages) {
    if (message.role === 'tool') {
      results.set(message.toolCallId, {
        content: message.content,
        ...(message.isError === true ? { isError: true } : {}),
      });
    }
  }
  const calls: ToolCallRecord[] = [];
  for (const message of run.messages) {
    if (message.role !== 'assistant') continue;
    for (const call of message.toolCalls ?? []) {
      let args: unknown = call.arguments;
      try {
        args = JSON.parse(call.arguments);
      } catch {
        // keep the text as the model sent it
      }
      const result = results.get(call.id);
      calls.push({
        name: call.name,
        arguments: args,
        result: result?.content,
        ...(result?.isError === true ? { isError: true } : {}),
        runId: run.runId,
        at: new Date(message.createdAt).toISOString(),
      });
    }
  }
  return calls;
}

/** The `get_tool_call_history` tool over `storage`. */
export function createToolCallHistoryTool(storage: SessionStorage): Tool {
  return tool({
    name: TOOL_CALL_HISTORY_TOOL,
    description:
      "Returns this session's latest tool calls as JSON, newest first: the tool's name, its arguments and its result.",
    parameters: z.object({
      num_calls: z
        .number()
        .int()
        .min(1)
        .max(100)
        .optional()
        .describe(`How many calls to return (default ${DEFAULT_TOOL_CALL_HISTORY}).`),
    }),
    execute: async ({ num_calls }, { sessionId }) => {
      const wanted = num_calls ?? DEFAULT_TOOL_CALL_HISTORY;
      const runs = await storage.getRuns({ sessionId, last: MAX_RUNS_FOR_TOOL_CALL_HISTORY });
      const calls: ToolCallRecord[] = [];
      for (let index = runs.length - 1; index >= 0 && calls.length < wanted; index--) {
        const run = runs[index] as StoredRun;
        calls.push(...callsOf(run).reverse());
      }
      return JSON.stringify(calls.slice(0, wanted));
    },
  }) as Tool;
}
