/**
 * The model loop of one run (SPEC §2.2): send messages, execute the requested tool calls (in
 * parallel), send the results, until the model answers without tool calls. At most
 * `MAX_TOOL_ROUNDS` rounds of tool calls; the model call after that must answer.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { throwIfAborted, toBuddyError } from '../errors/to-buddy-error.ts';
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
} from '../spec/model-v1.ts';
import { type Tool, type ToolContext, toModelToolDefinition } from '../tools/tool.ts';
import type { RunEvent } from './agent-types.ts';

export const MAX_TOOL_ROUNDS = 10;

export interface ModelLoopInput {
  model: Model;
  /** System message, history and the new user message. */
  messages: Message[];
  tools: readonly Tool[];
  toolContext: ToolContext;
  /** `stream()` uses the model's stream and emits text deltas; `run()` calls `generate()`. */
  streaming: boolean;
  emit: (event: RunEvent) => void;
}

export interface ModelLoopResult {
  content: string;
  /** The assistant and tool messages of the run, stamped. */
  messages: StoredMessage[];
  usage: Usage;
}

export async function runModelLoop(input: ModelLoopInput): Promise<ModelLoopResult> {
  const { model, tools, toolContext, emit } = input;
  const { runId, signal } = toolContext;
  const toolsByName = new Map(tools.map((entry) => [entry.name, entry]));
  const definitions: ModelToolDefinition[] = tools.map(toModelToolDefinition);
  const conversation = [...input.messages];
  const produced: StoredMessage[] = [];
  const usage: Usage = { inputTokens: 0, outputTokens: 0 };

  for (let round = 0; ; round++) {
    throwIfAborted(signal);
    const request: ModelRequest = {
      messages: [...conversation],
      ...(definitions.length === 0 ? {} : { tools: definitions }),
    };
    const answer = await callModel(
      model,
      request,
      signal,
      input.streaming ? emit : undefined,
      runId,
    );
    usage.inputTokens += answer.usage.inputTokens;
    usage.outputTokens += answer.usage.outputTokens;

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
    if (answer.toolCalls.length === 0)
      return { content: answer.content, messages: produced, usage };

    if (round >= MAX_TOOL_ROUNDS) {
      throw new BuddyError({
        code: 'MAX_TOOL_ROUNDS',
        message: `The model was still calling tools (${answer.toolCalls.map((call) => call.name).join(', ')}) after ${MAX_TOOL_ROUNDS} rounds of tool calls; the run was stopped`,
        details: { rounds: MAX_TOOL_ROUNDS },
      });
    }

    for (const toolCall of answer.toolCalls) emit({ type: 'tool-call', runId, toolCall });
    const results = await Promise.all(
      answer.toolCalls.map((toolCall) => executeToolCall(toolCall, toolsByName, toolContext)),
    );
    throwIfAborted(signal);
    answer.toolCalls.forEach((toolCall, index) => {
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
  }
}

async function callModel(
  model: Model,
  request: ModelRequest,
  signal: AbortSignal,
  emit: ((event: RunEvent) => void) | undefined,
  runId: string,
): Promise<ModelResponse> {
  const who = `Model ${model.provider}/${model.id}`;
  try {
    if (emit === undefined) {
      return checkModelResponse(await model.generate(request, { signal }), who);
    }
    let content = '';
    const toolCalls: ToolCall[] = [];
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let finishReason: FinishReason = 'other';
    for await (const raw of model.stream(request, { signal })) {
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
          break;
        default:
          break;
      }
    }
    return { content, toolCalls, usage, finishReason };
  } catch (error) {
    if (signal.aborted) throw toBuddyError(signal.reason ?? error, 'ABORTED');
    throw toBuddyError(error, 'INTERNAL', `${who} failed`);
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
  try {
    const result = await definition.execute(parsed.args, context);
    if (typeof result === 'string') return { content: result, isError: false };
    if (result === undefined) return { content: '', isError: false };
    return { content: JSON.stringify(result) ?? '', isError: false };
  } catch (error) {
    if (context.signal.aborted) throw toBuddyError(context.signal.reason ?? error, 'ABORTED');
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
