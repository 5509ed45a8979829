/**
 * Tracing (SPEC §16.5): with `@opentelemetry/api` installed (an optional peer) and a tracer
 * provider registered, every run is a `buddy.run` span with children for model calls (GenAI
 * semantic conventions: `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.*`), tool
 * calls, storage operations and post-answer work. Message contents are recorded only with
 * `telemetry: { recordContent: true }`, the user id only with `recordUserId`. Without the package
 * nothing is loaded after one failed import per process, and every hook is the identity.
 */
import { createRequire } from 'node:module';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { ToolCall } from '../messages/message.ts';
import type { Model, ModelRequest, ModelResponse, ModelStreamPart } from '../spec/model-v1.ts';
import type { SessionStorage } from '../spec/session-storage-v1.ts';
import type { TelemetryOptions } from './agent-types.ts';

type OpenTelemetryApi = typeof import('@opentelemetry/api');

let loaded: Promise<OpenTelemetryApi | undefined> | undefined;
let api: OpenTelemetryApi | undefined | null = null; // null: not tried yet

/** Loads `@opentelemetry/api` once per process; `undefined` when it is not installed. */
export function loadOpenTelemetry(): Promise<OpenTelemetryApi | undefined> {
  loaded ??= import('@opentelemetry/api').then(
    (module) => {
      api = module;
      return module;
    },
    () => {
      api = undefined;
      return undefined;
    },
  );
  return loaded;
}

let version: string | undefined;
/** This package's version, for the tracer (read once, at the first traced run). */
function coreVersion(): string {
  version ??= (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  return version;
}

/** The hooks a run calls; `NO_TRACE` when tracing is off. */
export interface RunTrace {
  /** The model, its calls traced as children of the run. */
  model(model: Model): Model;
  /** Runs one tool call inside its span. */
  tool<T>(toolCall: ToolCall, run: () => Promise<T>): Promise<T>;
  /** The storage, its operations traced. */
  storage(storage: SessionStorage): SessionStorage;
  /** Runs post-answer work inside its span. */
  postAnswer<T>(run: () => Promise<T>): Promise<T>;
  /** Ends the run span. */
  end(outcome: { usage?: { inputTokens: number; outputTokens: number }; error?: unknown }): void;
}

/** Tracing off: every hook is the identity. */
export const NO_TRACE: RunTrace = {
  model: (model) => model,
  tool: (_call, run) => run(),
  storage: (storage) => storage,
  postAnswer: (run) => run(),
  end: () => {},
};

const STORAGE_OPERATIONS = new Set([
  'getSession',
  'upsertSession',
  'appendRun',
  'getRuns',
  'acquireLease',
  'listSessions',
  'deleteSession',
  'deleteUserData',
  'prune',
]);

function contentAttribute(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/**
 * The registered provider's tracer, or `undefined` when none is registered. The global provider is
 * a proxy: without a registered delegate, `getTracer` hands out a proxy tracer whose spans never
 * record, so a run would build its attributes and a span only to drop them (most processes that
 * have `@opentelemetry/api` installed, as a dependency of something else, never register one).
 */
function tracerOf(otel: OpenTelemetryApi): Tracer | undefined {
  const provider = otel.trace.getTracerProvider();
  return provider instanceof otel.ProxyTracerProvider
    ? provider.getDelegateTracer('@buddy/core', coreVersion())
    : provider.getTracer('@buddy/core', coreVersion());
}

/** Starts the trace of one run, or `NO_TRACE` when tracing is off or unavailable. */
export async function startRunTrace(input: {
  telemetry: TelemetryOptions;
  runId: string;
  sessionId: string;
  agentId: string;
  userId: string | undefined;
  input: string;
}): Promise<RunTrace> {
  if (input.telemetry.enabled === false) return NO_TRACE;
  const otel = api === null ? await loadOpenTelemetry() : api;
  if (otel === undefined) return NO_TRACE;
  const tracer = tracerOf(otel);
  if (tracer === undefined) return NO_TRACE;
  const recordContent = input.telemetry.recordContent === true;
  const attributes: Attributes = {
    'buddy.run.id': input.runId,
    'buddy.session.id': input.sessionId,
    'buddy.agent.id': input.agentId,
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.id': input.agentId,
    'gen_ai.conversation.id': input.sessionId,
  };
  if (input.telemetry.recordUserId === true && input.userId !== undefined) {
    attributes['buddy.user.id'] = input.userId;
  }
  if (recordContent) attributes['buddy.input'] = input.input;
  const runSpan = tracer.startSpan('buddy.run', { attributes });
  // No tracer provider registered (or it samples this run out): nothing to record, no wrapping.
  if (!runSpan.isRecording()) {
    runSpan.end();
    return NO_TRACE;
  }
  const runContext: Context = otel.trace.setSpan(otel.context.active(), runSpan);

  const fail = (span: Span, error: unknown) => {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: otel.SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  };

  /** Runs `work` in a child span of the run; ends it with `finish` or the error. */
  const child = async <T>(
    name: string,
    spanAttributes: Attributes,
    work: (span: Span) => Promise<T>,
    kind?: number,
  ): Promise<T> => {
    const span = tracer.startSpan(
      name,
      { attributes: spanAttributes, ...(kind === undefined ? {} : { kind }) },
      runContext,
    );
    try {
      return await work(span);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  };

  const modelAttributes = (model: Model, request: ModelRequest): Attributes => ({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': model.provider,
    'gen_ai.system': model.provider,
    'gen_ai.request.model': model.id,
    ...(request.temperature === undefined
      ? {}
      : { 'gen_ai.request.temperature': request.temperature }),
    ...(request.maxTokens === undefined ? {} : { 'gen_ai.request.max_tokens': request.maxTokens }),
    ...(recordContent ? { 'gen_ai.input.messages': contentAttribute(request.messages) } : {}),
  });
  const recordAnswer = (
    span: Span,
    answer: Pick<ModelResponse, 'usage' | 'finishReason'> & {
      content?: string;
      toolCalls?: ToolCall[];
    },
  ) => {
    span.setAttributes({
      'gen_ai.usage.input_tokens': answer.usage.inputTokens,
      'gen_ai.usage.output_tokens': answer.usage.outputTokens,
      'gen_ai.response.finish_reasons': [answer.finishReason],
      ...(recordContent
        ? {
            'gen_ai.output.messages': contentAttribute({
              content: answer.content,
              toolCalls: answer.toolCalls,
            }),
          }
        : {}),
    });
  };

  return {
    model: (model) => ({
      ...model,
      specificationVersion: model.specificationVersion,
      provider: model.provider,
      id: model.id,
      generate: (request, options) =>
        child(
          `chat ${model.id}`,
          modelAttributes(model, request),
          async (span) => {
            const answer = await model.generate(request, options);
            if (answer !== null && typeof answer === 'object' && answer.usage !== undefined)
              recordAnswer(span, answer);
            return answer;
          },
          otel.SpanKind.CLIENT,
        ),
      stream: (request, options) => ({
        [Symbol.asyncIterator]: async function* (): AsyncGenerator<ModelStreamPart> {
          const span = tracer.startSpan(
            `chat ${model.id}`,
            { attributes: modelAttributes(model, request), kind: otel.SpanKind.CLIENT },
            runContext,
          );
          let content = '';
          const toolCalls: ToolCall[] = [];
          try {
            for await (const part of model.stream(request, options)) {
              if (part?.type === 'text-delta') content += part.delta;
              if (part?.type === 'tool-call') toolCalls.push(part.toolCall);
              if (part?.type === 'finish') recordAnswer(span, { ...part, content, toolCalls });
              yield part;
            }
          } catch (error) {
            fail(span, error);
            throw error;
          } finally {
            span.end();
          }
        },
      }),
      ...(model.countTokens === undefined
        ? {}
        : { countTokens: (text: string) => model.countTokens?.(text) ?? 0 }),
    }),
    tool: (toolCall, run) =>
      child(
        `execute_tool ${toolCall.name}`,
        {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': toolCall.name,
          'gen_ai.tool.call.id': toolCall.id,
          ...(recordContent ? { 'gen_ai.tool.call.arguments': toolCall.arguments } : {}),
        },
        async (span) => {
          const result = await run();
          if (recordContent) span.setAttribute('gen_ai.tool.call.result', contentAttribute(result));
          return result;
        },
      ),
    storage: (storage) =>
      new Proxy(storage, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (
            typeof property !== 'string' ||
            !STORAGE_OPERATIONS.has(property) ||
            typeof value !== 'function'
          ) {
            return value;
          }
          return (...args: unknown[]) =>
            child(
              `buddy.storage ${property}`,
              { 'buddy.storage.backend': target.backend, 'buddy.storage.operation': property },
              () => (value as (...input: unknown[]) => Promise<unknown>).apply(target, args),
            );
        },
      }),
    postAnswer: (run) => child('buddy.post_answer', {}, () => run()),
    end: (outcome) => {
      if (outcome.usage !== undefined) {
        runSpan.setAttributes({
          'gen_ai.usage.input_tokens': outcome.usage.inputTokens,
          'gen_ai.usage.output_tokens': outcome.usage.outputTokens,
        });
      }
      if (outcome.error !== undefined) fail(runSpan, outcome.error);
      runSpan.end();
    },
  };
}
