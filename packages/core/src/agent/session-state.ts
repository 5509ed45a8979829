/**
 * The state of a run (SPEC §2.4 step 3, §10.1, §10.2): constructor default ← stored state ← the
 * caller's edits of `agent.sessionState` (own session only) ← per-run `sessionState`, top-level
 * keys, later wins; then `stateSchema` (defaults filled, the state validated) and the seeded ids.
 * Before a write the state the tools left is checked the same way. Every check is O(size of the
 * state).
 */
import type { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { assertJsonObject, copyCheckedJson, jsonPath } from '../validation/json-value.ts';

/** Keys the agent writes into every state: the run's real ids (never shadowed in templates). */
export const SEEDED_KEYS = ['current_session_id', 'current_user_id'] as const;

/** A state schema: a zod schema whose output is an object. */
export type StateSchema<TState> = z.ZodType<TState>;

/** Top-level changes: keys set to new values and keys removed. */
export interface StateEdits {
  set: Record<string, unknown>;
  removed: string[];
}

function withoutSeeds(state: Record<string, unknown>): Record<string, unknown> {
  const { current_session_id: _session, current_user_id: _user, ...rest } = state;
  return rest;
}

function schemaIssue(error: z.ZodError, root: string): { path: string; message: string } {
  const issue = error.issues[0];
  let path = root;
  for (const key of issue?.path ?? []) {
    path = jsonPath(path, typeof key === 'number' ? key : String(key));
  }
  return { path, message: issue?.message ?? 'invalid' };
}

/**
 * Applies `stateSchema` to a state (seeded ids set aside and put back). `blame` says whose fault
 * a mismatch is: `'caller'` → `INVALID_ARGUMENT`, `'storage'` → `STORAGE_CORRUPT`.
 */
export function applyStateSchema<TState>(
  schema: StateSchema<TState> | undefined,
  state: Record<string, unknown>,
  options: { root: string; blame: 'caller' | 'storage'; sessionId: string; context: string },
): Record<string, unknown> {
  if (schema === undefined) return state;
  const result = schema.safeParse(withoutSeeds(state));
  if (!result.success) {
    const { path, message } = schemaIssue(result.error, options.root);
    throw new BuddyError({
      code: options.blame === 'caller' ? 'INVALID_ARGUMENT' : 'STORAGE_CORRUPT',
      message:
        options.blame === 'caller'
          ? `${options.context}: ${path} does not match the stateSchema (${message})`
          : `The state of session ${describeValue(options.sessionId)} no longer matches the stateSchema: ${path}: ${message}`,
      details: { sessionId: options.sessionId, path },
      cause: result.error,
    });
  }
  const output = result.data as unknown;
  if (typeof output !== 'object' || output === null || Array.isArray(output)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `Agent: option 'stateSchema' must describe an object, but it produced ${describeValue(output)}`,
    });
  }
  const seeded: Record<string, unknown> = { ...(output as Record<string, unknown>) };
  for (const key of SEEDED_KEYS) if (key in state) seeded[key] = state[key];
  return seeded;
}

/** Writes the run's ids into the state (`current_session_id`, `current_user_id` when known). */
export function seedState(
  state: Record<string, unknown>,
  sessionId: string,
  userId: string | undefined,
): Record<string, unknown> {
  state.current_session_id = sessionId;
  if (userId !== undefined) state.current_user_id = userId;
  else delete state.current_user_id;
  return state;
}

/** Applies top-level edits (checked as JSON, copied) over `state`. */
export function applyEdits(state: Record<string, unknown>, edits: StateEdits, root: string): void {
  for (const key of edits.removed) delete state[key];
  const set = edits.set;
  assertJsonObject(set, root);
  Object.assign(state, copyCheckedJson(set));
}

/**
 * Checks the state a run left before it is written: JSON values only (the path of the bad part is
 * named) and, with a schema, a match. Returns the state to store.
 */
export function checkStateToStore<TState>(
  schema: StateSchema<TState> | undefined,
  state: Record<string, unknown>,
  sessionId: string,
): Record<string, unknown> {
  const context = 'Agent.run: the session state the run left cannot be stored (nothing was stored)';
  try {
    assertJsonObject(state, 'sessionState');
  } catch (error) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${context}: ${(error as BuddyError).message}`,
      details: (error as BuddyError).details,
    });
  }
  return applyStateSchema(schema, state, {
    root: 'sessionState',
    blame: 'caller',
    sessionId,
    context,
  });
}
