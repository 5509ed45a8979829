/**
 * `tool()`: functions the model may call, with arguments validated by a zod schema.
 */
import { z } from 'zod';
import type { Agent } from '../agent/agent.ts';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type { JsonSchema, ModelToolDefinition } from '../spec/model-v1.ts';

/** What a tool's `execute` receives besides its arguments. */
export interface ToolContext<TState extends Record<string, unknown> = Record<string, unknown>> {
  /** The agent running the tool. Inside a run, `agent.sessionState` is this run's state. */
  agent: Agent<TState>;
  /**
   * The run's session state (the same object as `agent.sessionState` during the run). Changes
   * are stored with the run; they must stay JSON values (else the run fails, nothing stored).
   */
  sessionState: TState;
  sessionId: string;
  userId: string | undefined;
  runId: string;
  /** Fires when the run is aborted; pass it on to fetches and long work. */
  signal: AbortSignal;
}

/** A tool made with `tool()`. `TState` types its context's session state. */
export interface Tool<
  TArgs = unknown,
  TResult = unknown,
  TState extends Record<string, unknown> = Record<string, unknown>,
> {
  readonly name: string;
  readonly description: string | undefined;
  /** Validates the arguments the model sends. */
  readonly parameters: z.ZodType<TArgs>;
  /** JSON schema of the arguments, derived from `parameters`, sent to the model. */
  readonly jsonSchema: JsonSchema;
  /** Runs the tool. A thrown error is reported to the model as `Error: <message>`. */
  execute(args: TArgs, context: ToolContext<TState>): TResult | Promise<TResult>;
  /** Whether a call waits for a person's decision before it runs (SPEC §16.4). */
  readonly needsApproval?: boolean | ApprovalRule<TArgs, TState>;
}

/**
 * Decides per call whether it needs approval. (Declared as a method, so a tool with typed
 * arguments still fits a list of `Tool`s.)
 */
export type ApprovalRule<TArgs, TState extends Record<string, unknown>> = {
  rule(args: TArgs, context: ToolContext<TState>): boolean | Promise<boolean>;
}['rule'];

/** What `tool()` takes. */
export interface ToolDefinition<
  TSchema extends z.ZodType,
  TResult,
  TState extends Record<string, unknown> = Record<string, unknown>,
> {
  /** `^[a-zA-Z0-9_-]{1,64}$` (what every provider accepts). */
  name: string;
  description?: string;
  /** A zod object schema of the arguments; `z.object({})` when absent. */
  parameters?: TSchema;
  /**
   * The agent's `stateSchema`, to type `context.sessionState` (and `context.agent.sessionState`)
   * without casts. Types only: the agent validates the state with its own schema.
   */
  stateSchema?: z.ZodType<TState>;
  execute: (args: z.output<TSchema>, context: ToolContext<TState>) => TResult | Promise<TResult>;
  /**
   * A call waits for a person's decision before it runs: `true`, or a function of the arguments
   * deciding per call. The run pauses (`RunResponse.status: 'awaiting-approval'`) and continues
   * with `agent.resume(...)`, in any process (SPEC §16.4).
   */
  needsApproval?:
    | boolean
    | ((args: z.output<TSchema>, context: ToolContext<TState>) => boolean | Promise<boolean>);
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const toolMarker = Symbol.for('buddy.tool');

function isZodObjectSchema(value: unknown): value is z.ZodObject {
  if (typeof value !== 'object' || value === null) return false;
  const internals = (value as { _zod?: { def?: { type?: unknown } } })._zod;
  return (
    typeof (value as { safeParse?: unknown }).safeParse === 'function' &&
    internals?.def?.type === 'object'
  );
}

/**
 * Defines a tool. The argument type of `execute` is inferred from the zod schema.
 *
 * @example
 * const stateSchema = z.object({ cart: z.array(z.string()).default([]) });
 * const addToCart = tool({
 *   name: 'add_to_cart',
 *   description: "Add an item to the user's cart.",
 *   parameters: z.object({ item: z.string() }),
 *   stateSchema,
 *   execute: ({ item }, { sessionState }) => {
 *     sessionState.cart.push(item);
 *     return `Cart now has ${sessionState.cart.length} item(s).`;
 *   },
 * });
 */
export function tool<
  TSchema extends z.ZodType = z.ZodObject,
  TResult = unknown,
  TState extends Record<string, unknown> = Record<string, unknown>,
>(definition: ToolDefinition<TSchema, TResult, TState>): Tool<z.output<TSchema>, TResult, TState> {
  if (typeof definition !== 'object' || definition === null) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool() needs a definition object, got ${describeValue(definition)}`,
    });
  }
  const { name, description, execute } = definition;
  for (const key of Object.keys(definition)) {
    if (
      !['name', 'description', 'parameters', 'stateSchema', 'execute', 'needsApproval'].includes(
        key,
      )
    ) {
      throw new BuddyError({
        code: 'INVALID_ARGUMENT',
        message: `tool ${describeValue(name)}: unknown option ${describeValue(key)} (known: name, description, parameters, stateSchema, execute, needsApproval)`,
      });
    }
  }
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool name must match ${TOOL_NAME.source}, got ${describeValue(name)}`,
    });
  }
  if (description !== undefined && typeof description !== 'string') {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool '${name}': description must be a string, got ${describeValue(description)}`,
    });
  }
  if (typeof execute !== 'function') {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool '${name}': execute must be a function, got ${describeValue(execute)}`,
    });
  }
  const parameters = definition.parameters ?? z.object({});
  if (!isZodObjectSchema(parameters)) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool '${name}': parameters must be a zod object schema (z.object({...})), got ${describeValue(parameters)}`,
    });
  }
  let jsonSchema: JsonSchema;
  try {
    const { $schema: _ignored, ...schema } = z.toJSONSchema(parameters, {
      io: 'input',
      unrepresentable: 'any',
    }) as JsonSchema;
    jsonSchema = schema;
  } catch (error) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool '${name}': parameters cannot be described as JSON schema (${error instanceof Error ? error.message : String(error)})`,
      cause: error,
    });
  }
  const { needsApproval } = definition;
  if (
    needsApproval !== undefined &&
    typeof needsApproval !== 'boolean' &&
    typeof needsApproval !== 'function'
  ) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `tool '${name}': needsApproval must be a boolean or a function, got ${describeValue(needsApproval)}`,
    });
  }
  return {
    [toolMarker]: true,
    name,
    description,
    ...(needsApproval === undefined ? {} : { needsApproval }),
    parameters: parameters as unknown as z.ZodType<z.output<TSchema>>,
    jsonSchema,
    execute,
  } as Tool<z.output<TSchema>, TResult, TState>;
}

/** True for values made by `tool()` (from any copy of core). */
export function isTool(value: unknown): value is Tool {
  return typeof value === 'object' && value !== null && toolMarker in value;
}

/** The definition sent to models. */
export function toModelToolDefinition(definition: Tool): ModelToolDefinition {
  return {
    name: definition.name,
    ...(definition.description === undefined ? {} : { description: definition.description }),
    parameters: definition.jsonSchema,
  };
}
