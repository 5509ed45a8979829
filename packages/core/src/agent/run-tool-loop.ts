/**
 * `runToolLoop`: the one model-and-tools loop of Buddy (SPEC §2.2), used by the Agent for every
 * run and by `MemoryManager` for its memory edits. Send the messages → execute the requested tool
 * calls (in parallel, or one after the other) → send the results → until the model answers without
 * tool calls; at most `maxRounds` rounds of tool calls (then `MAX_TOOL_ROUNDS`). Every reply is
 * checked at the boundary (`MODEL_BAD_RESPONSE`); an abort escapes as `ABORTED`, any other tool
 * failure goes back to the model as an `Error: <message>` result.
 */
import { randomUUID } from 'node:crypto';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { raceAbort, throwIfAborted, toBuddyError } from '../errors/to-buddy-error.ts';
import type {
  AssistantMessage,
  Message,
  StoredMessage,
  ToolCall,
  ToolMessage,
  Usage,
} from '../messages/message.ts';
import { stampMessage } from '../messages/message-helpers.ts';
import { checkModelResponse, checkStreamPart } from '../model-utils/check-model-response.ts';
import type {
  FinishReason,
  Model,
  ModelRequest,
  ModelResponse,
  ModelToolDefinition,
  ModelV1Message,
  ModelWarning,
} from '../spec/model-v1.ts';
import { type Tool, type ToolContext, toModelToolDefinition } from '../tools/tool.ts';
import type { RunEvent } from './agent-types.ts';

/** Rounds of tool calls an Agent run may take; the model call after the last must answer. */
export const MAX_TOOL_ROUNDS = 10;

/** What the loop reports while it runs (the tool and text events of `RunEvent`). */
export type ToolLoopEvent = Extract<RunEvent, { type: 'text-delta' | 'tool-call' | 'tool-result' }>;

/**
 * What tools receive. Inside an Agent run it is the full `ToolContext`; a loop run outside an
 * agent (e.g. by `MemoryManager`) passes no `agent`.
 */
export type ToolLoopContext = Omit<ToolContext, 'agent'> & { agent?: ToolContext['agent'] };

/**
 * Marks the tool contexts of runs nothing can abort (made by `unabortableToolContext`): their
 * `signal` is made on first read, and the loop has no signal of its own to check or pass on.
 */
const UNABORTABLE: unique symbol = Symbol('buddy.unabortable');

/**
 * The tool context of a run that nothing can abort (an Agent run without a caller's `signal`, not
 * streamed): `signal` is a signal that never fires, made only when a tool reads it. Node 20 takes
 * ~3 µs to make an `AbortSignal`, and most runs never hand one to anything. (Written out, not
 * spread, and marked by a symbol: the getter already makes this literal ~0.4 µs.)
 */
export function unabortableToolContext(fields: Omit<ToolContext, 'signal'>): ToolContext {
  let signal: AbortSignal | undefined;
  return {
    agent: fields.agent,
    sessionState: fields.sessionState,
    sessionId: fields.sessionId,
    userId: fields.userId,
    runId: fields.runId,
    [UNABORTABLE]: true,
    get signal() {
      signal ??= new AbortController().signal;
      return signal;
    },
  } as ToolContext;
}

/** The signal that aborts work done for `context`; `undefined` when nothing can. */
function abortSignalOf(context: ToolLoopContext): AbortSignal | undefined {
  return UNABORTABLE in context ? undefined : context.signal;
}

/** Request settings sent with every call of the loop. */
export type ToolLoopRequestSettings = Pick<
  ModelRequest,
  'toolChoice' | 'temperature' | 'maxTokens' | 'providerOptions'
>;

/** Input of `runToolLoop`. */
export interface ToolLoopInput {
  model: Model;
  /** The conversation so far (system message, history, the new user message). */
  messages: readonly Message[];
  tools: readonly Tool[];
  /** Rounds of tool calls; default `MAX_TOOL_ROUNDS` (10). */
  maxRounds?: number;
  /** Aborts the model call and the tools (`ABORTED`). Default: the context's signal. */
  signal?: AbortSignal;
  /** `stream()` the model and emit text deltas; `generate()` otherwise. Default `false`. */
  streaming?: boolean;
  /** Text deltas, tool calls and tool results as they happen. */
  onEvent?: (event: ToolLoopEvent) => void;
  /** Execute the calls of one round in parallel (default) or one after the other. */
  parallelToolCalls?: boolean;
  /** What `tool.execute` receives as its context. */
  context: ToolLoopContext;
  /** Sent with every call (tool choice, sampling, provider options). */
  settings?: ToolLoopRequestSettings;
  /**
   * Called with every request before it is sent (each round, not only the first); what it returns
   * is sent instead. The context budget (SPEC §13.3) trims requests here.
   */
  prepareRequest?: (request: ModelRequest, round: number) => ModelRequest;
  /** Names the loop in errors (`'MemoryManager'`). */
  who?: string;
  /** Runs each tool call (tracing wraps it in a span). Default: run it. */
  traceTool?: <T>(toolCall: ToolCall, run: () => Promise<T>) => Promise<T>;
  /**
   * Filled as the loop goes, so a caller can keep a partial run when the loop fails or is
   * aborted (`persistAbortedRuns`).
   */
  progress?: ToolLoopProgress;
  /**
   * Continues a run paused for approvals: the `pending` calls (already in `messages`) are run
   * when approved and answered `Error: denied: <reason>` when not, before the next model call.
   */
  resume?: {
    pending: readonly ToolCall[];
    decisions: ReadonlyMap<string, { approved: boolean; reason?: string }>;
  };
}

/** What a loop did so far (see `ToolLoopInput.progress`). */
export interface ToolLoopProgress {
  /** The assistant and tool messages added so far, stamped. */
  messages: StoredMessage[];
  /** Text streamed of the assistant turn in progress (not yet a message). */
  partialText: string;
  /** Whether the model had started answering (a text delta or a message). */
  started: boolean;
  /** Usage of the model calls that completed. */
  usage: Usage;
}

/** What `runToolLoop` resolves with. */
export interface ToolLoopResult {
  /** The final assistant text. */
  content: string;
  /** The assistant and tool messages the loop added, stamped with the context's `runId`. */
  messages: StoredMessage[];
  usage: Usage;
  /** What the model's adapter reported it could not do, in order, without duplicates. */
  warnings: ModelWarning[];
  /** Rounds of tool calls taken. */
  rounds: number;
  /**
   * Calls waiting for approval: the loop stopped before running them (`content` is `''`); the
   * other calls of that round ran and their results are in `messages`.
   */
  pendingApprovals?: ToolCall[];
}

/** Strips storage fields: the model gets role, content and tool calls only. */
export function toModelMessages(messages: readonly Message[]): ModelV1Message[] {
  return messages.map((message): ModelV1Message => {
    switch (message.role) {
      case 'assistant':
        return message.toolCalls === undefined || message.toolCalls.length === 0
          ? { role: 'assistant', content: message.content }
          : { role: 'assistant', content: message.content, toolCalls: message.toolCalls };
      case 'tool':
        return {
          role: 'tool',
          toolCallId: message.toolCallId,
          toolName: message.toolName,
          content: message.content,
          ...(message.isError === true ? { isError: true } : {}),
        };
      default:
        return { role: message.role, content: message.content };
    }
  });
}

function warningKey(warning: ModelWarning): string {
  return warning.type === 'unsupported-setting'
    ? `setting:${warning.setting}`
    : `other:${warning.message}`;
}

/** Runs the loop; see the module comment. */
export async function runToolLoop(input: ToolLoopInput): Promise<ToolLoopResult> {
  const { model, tools, context } = input;
  const signal = input.signal ?? abortSignalOf(context);
  const runId = context.runId || randomUUID();
  const maxRounds = input.maxRounds ?? MAX_TOOL_ROUNDS;
  const emit = input.onEvent ?? (() => {});
  const toolsByName = new Map(tools.map((entry) => [entry.name, entry]));
  const definitions: ModelToolDefinition[] = tools.map(toModelToolDefinition);
  const conversation: Message[] = [...input.messages];
  const progress: ToolLoopProgress = input.progress ?? {
    messages: [],
    partialText: '',
    started: false,
    usage: { inputTokens: 0, outputTokens: 0 },
  };
  const produced = progress.messages;
  const usage = progress.usage;
  const warnings = new Map<string, ModelWarning>();

  const traced = input.traceTool;
  const execute = (toolCall: ToolCall) =>
    traced === undefined
      ? executeToolCall(toolCall, toolsByName, context as ToolContext)
      : traced(toolCall, () => executeToolCall(toolCall, toolsByName, context as ToolContext));
  /** Runs calls (in parallel unless asked otherwise) and appends their results in order. */
  const runCalls = async (
    calls: readonly ToolCall[],
    decide?: (call: ToolCall) => ToolOutcome | undefined,
  ) => {
    const outcome = (call: ToolCall) => decide?.(call) ?? execute(call);
    let results: ToolOutcome[];
    if (input.parallelToolCalls === false) {
      results = [];
      for (const call of calls) results.push(await outcome(call));
    } else {
      results = await Promise.all(calls.map(outcome));
    }
    throwIfAborted(signal);
    calls.forEach((toolCall, index) => {
      const result = results[index] ?? { content: '', isError: false };
      const message = stampMessage<ToolMessage>(
        {
          role: 'tool',
          toolCallId: toolCall.id,
          toolName: toolCall.name,
          content: result.content,
          ...(result.isError ? { isError: true } : {}),
        },
        runId,
      );
      conversation.push(message);
      produced.push(message);
      emit({
        type: 'tool-result',
        runId,
        toolCallId: toolCall.id,
        toolName: toolCall.name,
        result: result.content,
        isError: result.isError,
      });
    });
  };

  // A resumed run first settles the calls that waited for a decision (SPEC §16.4).
  if (input.resume !== undefined) {
    const { pending, decisions } = input.resume;
    await runCalls(pending, (call) => {
      const decision = decisions.get(call.id);
      if (decision?.approved === true) return undefined;
      return {
        content: `Error: denied: ${decision?.reason ?? 'the call was not approved'}`,
        isError: true,
      };
    });
  }

  for (let round = 0; ; round++) {
    throwIfAborted(signal);
    let request: ModelRequest = {
      ...input.settings,
      messages: toModelMessages(conversation),
      ...(definitions.length === 0 ? {} : { tools: definitions }),
    };
    if (input.prepareRequest !== undefined) request = input.prepareRequest(request, round);
    const onDelta = (event: ToolLoopEvent) => {
      if (event.type === 'text-delta') {
        progress.partialText += event.delta;
        progress.started = true;
      }
      emit(event);
    };
    const answer = await callModel(
      model,
      request,
      signal,
      input.streaming === true ? onDelta : undefined,
      runId,
    );
    progress.partialText = '';
    progress.started = true;
    usage.inputTokens += answer.usage.inputTokens;
    usage.outputTokens += answer.usage.outputTokens;
    for (const warning of answer.warnings ?? []) warnings.set(warningKey(warning), warning);

    const assistant = stampMessage<AssistantMessage>(
      {
        role: 'assistant',
        content: answer.content,
        ...(answer.toolCalls.length === 0 ? {} : { toolCalls: answer.toolCalls }),
      },
      runId,
    );
    conversation.push(assistant);
    produced.push(assistant);
    if (answer.toolCalls.length === 0) {
      return {
        content: answer.content,
        messages: produced,
        usage,
        warnings: [...warnings.values()],
        rounds: round,
      };
    }

    if (round >= maxRounds) {
      throw new BuddyError({
        code: 'MAX_TOOL_ROUNDS',
        message: `${input.who === undefined ? 'The' : `${input.who}: the`} model was still calling tools (${answer.toolCalls.map((call) => call.name).join(', ')}) after ${maxRounds} rounds of tool calls; the run was stopped`,
        details: { rounds: maxRounds },
      });
    }

    for (const toolCall of answer.toolCalls) emit({ type: 'tool-call', runId, toolCall });
    // Calls of tools that need approval wait; the others run now.
    const waiting: ToolCall[] = [];
    for (const toolCall of answer.toolCalls) {
      if (await needsApproval(toolCall, toolsByName, context as ToolContext))
        waiting.push(toolCall);
    }
    await runCalls(answer.toolCalls.filter((call) => !waiting.includes(call)));
    if (waiting.length > 0) {
      return {
        content: '',
        messages: produced,
        usage,
        warnings: [...warnings.values()],
        rounds: round + 1,
        pendingApprovals: waiting,
      };
    }
  }
}

/** Whether a call must wait for a person's decision (`tool({ needsApproval })`). */
async function needsApproval(
  toolCall: ToolCall,
  toolsByName: ReadonlyMap<string, Tool>,
  context: ToolContext,
): Promise<boolean> {
  const definition = toolsByName.get(toolCall.name);
  const rule = definition?.needsApproval;
  if (definition === undefined || rule === undefined || rule === false) return false;
  if (rule === true) return true;
  // Arguments the tool would refuse are not worth a person's time: they go back as an error.
  const parsed = parseToolArguments(definition, toolCall.arguments);
  if (!parsed.success) return false;
  try {
    return (await rule(parsed.args, context)) === true;
  } catch (error) {
    throw toBuddyError(
      error,
      'TOOL_EXECUTION_FAILED',
      `needsApproval of tool '${toolCall.name}' failed`,
    );
  }
}

async function callModel(
  model: Model,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: ((event: ToolLoopEvent) => void) | undefined,
  runId: string,
): Promise<ModelResponse> {
  const who = `Model ${model.provider}/${model.id}`;
  const options = signal === undefined ? {} : { signal };
  try {
    if (emit === undefined) {
      return checkModelResponse(await model.generate(request, options), who);
    }
    let content = '';
    const toolCalls: ToolCall[] = [];
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let finishReason: FinishReason = 'other';
    let warnings: ModelWarning[] | undefined;
    for await (const raw of abortableParts(model.stream(request, options), signal)) {
      const part = checkStreamPart(raw, who);
      switch (part?.type) {
        case 'text-delta':
          if (part.delta !== '') {
            content += part.delta;
            emit({ type: 'text-delta', runId, delta: part.delta });
          }
          break;
        case 'tool-call':
          toolCalls.push(part.toolCall);
          break;
        case 'finish':
          usage = part.usage;
          finishReason = part.finishReason;
          warnings = part.warnings;
          break;
        default:
          break;
      }
    }
    return {
      content,
      toolCalls,
      usage,
      finishReason,
      ...(warnings === undefined ? {} : { warnings }),
    };
  } catch (error) {
    if (signal?.aborted) throw toBuddyError(signal.reason ?? error, 'ABORTED');
    throw toBuddyError(error, 'INTERNAL', `${who} failed`);
  }
}

/**
 * The parts of a model stream, ending with the signal's reason as soon as it fires, even when the
 * stream itself is waiting and misses the abort.
 */
async function* abortableParts<T>(
  parts: AsyncIterable<T>,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  const iterator = parts[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await raceAbort(iterator.next(), signal);
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    // Let the stream clean up (close its connection); never wait for it.
    void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

interface ToolOutcome {
  content: string;
  isError: boolean;
}

function errorOutcome(error: BuddyError): ToolOutcome {
  return { content: `Error: ${error.message}`, isError: true };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Runs one tool call. Bad JSON, arguments that fail the schema, unknown tools and thrown errors
 * become an `Error: <message>` result for the model (the run continues); only an abort escapes.
 */
export async function executeToolCall(
  toolCall: ToolCall,
  toolsByName: ReadonlyMap<string, Tool>,
  context: ToolContext,
): Promise<ToolOutcome> {
  const definition = toolsByName.get(toolCall.name);
  if (definition === undefined) {
    const available = [...toolsByName.keys()].join(', ') || 'none';
    return errorOutcome(
      new BuddyError({
        code: 'TOOL_INPUT_INVALID',
        message: `Unknown tool ${describeValue(toolCall.name)}. Available tools: ${available}`,
      }),
    );
  }
  const parsed = parseToolArguments(definition, toolCall.arguments);
  if (!parsed.success) return errorOutcome(parsed.error);
  const signal = abortSignalOf(context);
  try {
    // A tool that ignores the signal still cannot keep an aborted run waiting.
    const result = await raceAbort(
      Promise.resolve().then(() => definition.execute(parsed.args, context)),
      signal,
    );
    if (typeof result === 'string') return { content: result, isError: false };
    if (result === undefined) return { content: '', isError: false };
    return { content: JSON.stringify(result) ?? '', isError: false };
  } catch (error) {
    if (signal?.aborted) throw toBuddyError(signal.reason ?? error, 'ABORTED');
    const message = error instanceof Error ? error.message : String(error);
    return errorOutcome(new BuddyError({ code: 'TOOL_EXECUTION_FAILED', message, cause: error }));
  }
}

/**
 * Parses a tool call's JSON arguments and validates them with the tool's zod schema. Errors name
 * the tool, the path and the bad value, ready to be sent back to the model.
 */
export function parseToolArguments(
  definition: Tool,
  argumentsText: string,
): { success: true; args: unknown } | { success: false; error: BuddyError } {
  let args: unknown;
  try {
    args = argumentsText.trim() === '' ? {} : JSON.parse(argumentsText);
  } catch {
    return {
      success: false,
      error: new BuddyError({
        code: 'TOOL_INPUT_INVALID',
        message: `Invalid arguments for tool '${definition.name}': not valid JSON: ${describeValue(argumentsText)}`,
      }),
    };
  }
  const parsed = definition.parameters.safeParse(args);
  if (parsed.success) return { success: true, args: parsed.data };
  const issues = parsed.error.issues
    .map((issue) => {
      const where = issue.path.length === 0 ? 'arguments' : issue.path.join('.');
      return `${where}: ${issue.message} (got ${describeValue(valueAt(args, issue.path))})`;
    })
    .join('; ');
  return {
    success: false,
    error: new BuddyError({
      code: 'TOOL_INPUT_INVALID',
      message: `Invalid arguments for tool '${definition.name}': ${issues}`,
    }),
  };
}
