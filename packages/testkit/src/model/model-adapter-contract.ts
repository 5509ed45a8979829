/**
 * The `Model` contract suite, run unchanged by `OpenAIChat`, `Claude` and `MockModel`:
 *
 * ```ts
 * describeModelAdapterContract('OpenAIChat', {
 *   text: () => scenario('openai-text'),            // a model whose calls answer CONTRACT_TEXT
 *   toolCall: () => scenario('openai-tool-call'),
 *   ...
 * });
 * ```
 *
 * The suite owns the requests and the expected answers (`modelContract`); each implementation
 * supplies scenario factories that return a `Model` configured to give those answers, usually over
 * recorded wire-format fixtures served by `createFixtureFetch`. A scenario answers every call the
 * same way, to `generate()` (JSON) and `stream()` (SSE) alike.
 *
 * Optional factories are capabilities: when one is absent (MockModel has no HTTP status codes),
 * its cases are skipped, never failed. Where a scenario exposes `bodies` (what reached the
 * provider), the suite also checks the wire: provider options of the model's own namespace arrive,
 * other namespaces and storage fields of messages never do.
 */
import {
  BuddyError,
  type BuddyErrorCode,
  type Model,
  type ModelRequest,
  type ModelResponse,
  type ModelResponseFormat,
  type ModelStreamPart,
  type ModelToolDefinition,
  type ModelV1Message,
  type ModelWarning,
  type ToolCall,
  type Usage,
} from '@buddy/core';
import { describe, expect, it } from 'vitest';

/** A model set up to answer one scenario, and what the implementation knows about it. */
export interface ModelScenario {
  model: Model;
  /** The usage the scenario's answer reports; checked exactly when given. */
  usage?: Usage;
  /** The requests the model sent so far (fixture fetch records, `MockModel.requests`). */
  requests?: () => readonly unknown[];
  /**
   * Capability: the JSON bodies the provider received so far, in order (the wire). Turns on the
   * wire checks: provider-options pass-through and no storage fields.
   */
  bodies?: () => readonly unknown[];
}

/** A setting the model cannot honour, and a scenario in which to ask for it. */
export interface UnsupportedSettingCase {
  /** The setting named by the expected warning, e.g. `'temperature'`. */
  setting: string;
  /** Merged into the text request (`modelContract.requests.text`); may be `{}` when the model itself is configured with the setting. */
  request: Omit<Partial<ModelRequest>, 'messages'>;
  /** A model that answers `modelContract.text` (like `text`), set up so that `request` is not fully honoured. */
  scenario: Factory;
}

type Factory = () => ModelScenario | Promise<ModelScenario>;

/** What an implementation gives `describeModelAdapterContract`: one factory per scenario, optional ones are capabilities. */
export interface ModelAdapterHarness {
  /** Answers `modelContract.text`, streamed in two or more text deltas. */
  text: Factory;
  /** Calls `modelContract.toolCall`, its arguments streamed in two or more chunks. */
  toolCall: Factory;
  /** Calls `modelContract.toolCall` then `modelContract.secondToolCall` in one turn. */
  twoToolCalls: Factory;
  /** Answers the structured request with `modelContract.structured` as JSON text. */
  structured: Factory;
  /** Never answers until the call is aborted. */
  hang: Factory;
  /** Capability: a stream that sends one text delta, then stalls until aborted. */
  stall?: Factory;
  /** Capability: the provider fails every call with this HTTP status (401, 429, 500). */
  error?: (status: number) => ModelScenario | Promise<ModelScenario>;
  /** Capability: the provider sends some text, then an overload/server error inside the stream. */
  midStreamError?: Factory;
  /**
   * Capability: a setting the model does not honour; it must still answer, and report an
   * `unsupported-setting` warning naming the setting in `generate()` and in the `finish` part.
   */
  unsupportedSetting?: UnsupportedSettingCase;
}

const system: ModelV1Message = { role: 'system', content: 'You are a helpful assistant.' };

const tools: ModelToolDefinition[] = [
  {
    name: 'get_weather',
    description: 'Get the current weather in a city.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
  {
    name: 'get_time',
    description: 'Get the current time in a time zone.',
    parameters: {
      type: 'object',
      properties: { timezone: { type: 'string' } },
      required: ['timezone'],
      additionalProperties: false,
    },
  },
];

const responseFormat: ModelResponseFormat = {
  type: 'json',
  name: 'session_summary',
  description: 'A summary of the conversation.',
  schema: {
    type: 'object',
    properties: {
      summary: { type: 'string' },
      topics: { type: 'array', items: { type: 'string' } },
    },
    required: ['summary', 'topics'],
    additionalProperties: false,
  },
};

/** The requests the suite sends and the answers it expects; fixtures must match them. */
export const modelContract = {
  text: 'Hello! How can I help you today?',
  toolCall: { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } },
  secondToolCall: { name: 'get_time', arguments: { timezone: 'Europe/Paris' } },
  structured: {
    summary: 'The user asked about the weather in Paris.',
    topics: ['weather', 'Paris'],
  },
  requests: {
    text: { messages: [system, { role: 'user', content: 'Hi!' }] } satisfies ModelRequest,
    toolCall: {
      messages: [system, { role: 'user', content: 'What is the weather in Paris?' }],
      tools,
    } satisfies ModelRequest,
    twoToolCalls: {
      messages: [system, { role: 'user', content: 'What are the weather and the time in Paris?' }],
      tools,
    } satisfies ModelRequest,
    structured: {
      messages: [system, { role: 'user', content: 'Summarize: "What is the weather in Paris?"' }],
      responseFormat,
    } satisfies ModelRequest,
  },
} as const;

interface Collected {
  parts: ModelStreamPart[];
  error: unknown;
}

async function collect(
  stream: AsyncIterable<ModelStreamPart>,
  onPart?: (part: ModelStreamPart) => void,
): Promise<Collected> {
  const parts: ModelStreamPart[] = [];
  try {
    for await (const part of stream) {
      parts.push(part);
      onPart?.(part);
    }
    return { parts, error: undefined };
  } catch (error) {
    return { parts, error };
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it resolved');
}

function expectBuddyError(error: unknown, code: BuddyErrorCode): asserts error is BuddyError {
  expect(
    BuddyError.is(error),
    `expected BuddyError ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  ).toBe(true);
  expect((error as BuddyError).code, (error as BuddyError).message).toBe(code);
}

function expectUsage(actual: Usage, expected: Usage | undefined): void {
  if (expected !== undefined) {
    expect(actual).toEqual(expected);
    return;
  }
  expect(Number.isInteger(actual.inputTokens) && actual.inputTokens > 0).toBe(true);
  expect(Number.isInteger(actual.outputTokens) && actual.outputTokens > 0).toBe(true);
}

/** Checks that `warnings` is absent or a list of well-formed `ModelWarning`s. */
function expectWarningsShape(warnings: unknown): asserts warnings is ModelWarning[] | undefined {
  if (warnings === undefined) return;
  expect(Array.isArray(warnings), 'warnings is an array').toBe(true);
  for (const warning of warnings as unknown[]) {
    const entry = warning as Record<string, unknown>;
    if (entry.type === 'unsupported-setting') {
      expect(typeof entry.setting === 'string' && entry.setting !== '', 'warning.setting').toBe(
        true,
      );
      expect(['undefined', 'string'], 'warning.details').toContain(typeof entry.details);
      expect(Object.keys(entry).every((key) => ['type', 'setting', 'details'].includes(key))).toBe(
        true,
      );
    } else {
      expect(entry.type, `a known warning type in ${JSON.stringify(warning)}`).toBe('other');
      expect(typeof entry.message === 'string' && entry.message !== '', 'warning.message').toBe(
        true,
      );
    }
  }
}

/** A `generate()` result with well-formed warnings (absent or valid). */
function expectResponseShape(response: ModelResponse): void {
  expectWarningsShape(response.warnings);
}

/** Checks the part order of a finished stream and returns its finish part. */
function expectFinishedLast(parts: readonly ModelStreamPart[]) {
  const finishes = parts.filter((part) => part.type === 'finish');
  expect(finishes, 'exactly one finish part').toHaveLength(1);
  const last = parts.at(-1);
  expect(last?.type, 'the finish part comes last').toBe('finish');
  const finish = last as Extract<ModelStreamPart, { type: 'finish' }>;
  expectWarningsShape(finish.warnings);
  return finish;
}

/** Values that must never reach a provider: the storage fields of a stored message. */
const STORAGE_MARKERS = {
  id: 'msg_contract_storage_only',
  createdAt: 1_234_567_890_123,
  runId: 'run_contract_storage_only',
} as const;

/** The messages of `request` as stored messages (extra `id`, `createdAt`, `runId` fields). */
function withStorageFields(request: ModelRequest): ModelRequest {
  const messages = request.messages.map((message, index): ModelV1Message => {
    const stored: Record<string, unknown> = {
      ...message,
      ...STORAGE_MARKERS,
      id: `${STORAGE_MARKERS.id}_${index}`,
    };
    return stored as unknown as ModelV1Message;
  });
  return { ...request, messages };
}

function expectNoStorageFields(body: unknown): void {
  const text = JSON.stringify(body);
  expect(text, 'no message id on the wire').not.toContain(STORAGE_MARKERS.id);
  expect(text, 'no runId on the wire').not.toContain(STORAGE_MARKERS.runId);
  expect(text, 'no createdAt on the wire').not.toContain(String(STORAGE_MARKERS.createdAt));
}

/** The `bodies` capability of a scenario (the suite skips the case without it). */
function bodiesOf(scenario: ModelScenario): () => readonly unknown[] {
  const { bodies } = scenario;
  if (bodies === undefined) throw new Error('the scenario has no bodies() capability');
  return bodies;
}

function toolCallsOf(parts: readonly ModelStreamPart[]): ToolCall[] {
  return parts.flatMap((part) => (part.type === 'tool-call' ? [part.toolCall] : []));
}

/** Checks that the deltas of `call` came before it, name first, and add up to its arguments. */
function expectAssembledFrom(parts: readonly ModelStreamPart[], call: ToolCall): void {
  const callIndex = parts.findIndex(
    (part) => part.type === 'tool-call' && part.toolCall.id === call.id,
  );
  const deltas = parts.flatMap((part, index) =>
    part.type === 'tool-call-delta' && part.toolCallId === call.id ? [{ part, index }] : [],
  );
  expect(deltas.length, `argument deltas of ${call.name}`).toBeGreaterThanOrEqual(2);
  expect(deltas[0]?.part.toolName).toBe(call.name);
  for (const { index } of deltas) expect(index).toBeLessThan(callIndex);
  expect(deltas.map(({ part }) => part.argumentsDelta).join('')).toBe(call.arguments);
}

function expectCall(call: ToolCall | undefined, expected: { name: string; arguments: object }) {
  expect(call, `tool call ${expected.name}`).toBeDefined();
  const actual = call as ToolCall;
  expect(typeof actual.id === 'string' && actual.id.length > 0, 'tool call id').toBe(true);
  expect(actual.name).toBe(expected.name);
  expect(typeof actual.arguments, 'arguments are JSON text').toBe('string');
  expect(JSON.parse(actual.arguments)).toEqual(expected.arguments);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the model contract cases for one implementation.
 *
 * @example
 * describeModelAdapterContract('MockModel', {
 *   text: () => ({ model: new MockModel({ respond: () => modelContract.text }) }),
 *   ...
 * });
 */
export function describeModelAdapterContract(name: string, harness: ModelAdapterHarness): void {
  const { requests } = modelContract;
  const itIf = (capability: unknown) => (capability === undefined ? it.skip : it);

  describe(`Model contract: ${name}`, () => {
    it('declares specificationVersion v1, a provider and an id', async () => {
      const { model } = await harness.text();
      expect(model.specificationVersion).toBe('v1');
      expect(typeof model.provider === 'string' && model.provider.length > 0).toBe(true);
      expect(typeof model.id === 'string' && model.id.length > 0).toBe(true);
    });

    describe('generate()', () => {
      it('answers plain text with usage and finish reason stop, in one request', async () => {
        const scenario = await harness.text();
        const response = await scenario.model.generate(requests.text);
        expect(response.content).toBe(modelContract.text);
        expect(response.toolCalls).toEqual([]);
        expect(response.finishReason).toBe('stop');
        expectUsage(response.usage, scenario.usage);
        expectResponseShape(response);
        if (scenario.requests !== undefined) expect(scenario.requests()).toHaveLength(1);
      });

      it('returns one tool call with JSON-text arguments and finish reason tool-calls', async () => {
        const scenario = await harness.toolCall();
        const response = await scenario.model.generate(requests.toolCall);
        expect(response.toolCalls).toHaveLength(1);
        expectCall(response.toolCalls[0], modelContract.toolCall);
        expect(response.finishReason).toBe('tool-calls');
        expectUsage(response.usage, scenario.usage);
        expectResponseShape(response);
      });

      it('returns two tool calls of one turn in order, with distinct ids', async () => {
        const scenario = await harness.twoToolCalls();
        const response = await scenario.model.generate(requests.twoToolCalls);
        expect(response.toolCalls).toHaveLength(2);
        expectCall(response.toolCalls[0], modelContract.toolCall);
        expectCall(response.toolCalls[1], modelContract.secondToolCall);
        expect(response.toolCalls[0]?.id).not.toBe(response.toolCalls[1]?.id);
        expect(response.finishReason).toBe('tool-calls');
      });

      it('answers a responseFormat request with JSON text matching the schema', async () => {
        const scenario = await harness.structured();
        const response = await scenario.model.generate(requests.structured);
        expect(JSON.parse(response.content)).toEqual(modelContract.structured);
        expect(response.toolCalls).toEqual([]);
        expect(response.finishReason).toBe('stop');
        expectResponseShape(response);
      });
    });

    describe('stream()', () => {
      it('yields text deltas, then exactly one finish part, last', async () => {
        const scenario = await harness.text();
        const { parts, error } = await collect(scenario.model.stream(requests.text));
        expect(error).toBeUndefined();
        const finish = expectFinishedLast(parts);
        const body = parts.slice(0, -1);
        expect(body.every((part) => part.type === 'text-delta')).toBe(true);
        expect(body.length, 'text arrives in several deltas').toBeGreaterThanOrEqual(2);
        const text = body.map((part) => (part.type === 'text-delta' ? part.delta : '')).join('');
        expect(text).toBe(modelContract.text);
        expect(finish.finishReason).toBe('stop');
        expectUsage(finish.usage, scenario.usage);
      });

      it('reports the same usage as generate() for the same answer', async () => {
        const scenario = await harness.text();
        const response = await scenario.model.generate(requests.text);
        const { parts } = await collect(scenario.model.stream(requests.text));
        expect(expectFinishedLast(parts).usage).toEqual(response.usage);
      });

      it('assembles a tool call from many argument chunks into one valid call', async () => {
        const scenario = await harness.toolCall();
        const { parts, error } = await collect(scenario.model.stream(requests.toolCall));
        expect(error).toBeUndefined();
        const calls = toolCallsOf(parts);
        expect(calls, 'exactly one tool-call part').toHaveLength(1);
        const call = calls[0] as ToolCall;
        expectCall(call, modelContract.toolCall);
        expectAssembledFrom(parts, call);
        const finish = expectFinishedLast(parts);
        expect(finish.finishReason).toBe('tool-calls');
        expectUsage(finish.usage, scenario.usage);
      });

      it('streams two tool calls of one turn, each completed exactly once', async () => {
        const scenario = await harness.twoToolCalls();
        const { parts, error } = await collect(scenario.model.stream(requests.twoToolCalls));
        expect(error).toBeUndefined();
        const calls = toolCallsOf(parts);
        expect(calls).toHaveLength(2);
        expectCall(calls[0], modelContract.toolCall);
        expectCall(calls[1], modelContract.secondToolCall);
        expect(calls[0]?.id).not.toBe(calls[1]?.id);
        for (const call of calls) expectAssembledFrom(parts, call);
        expect(expectFinishedLast(parts).finishReason).toBe('tool-calls');
      });

      it('streams structured output as text deltas of the JSON answer', async () => {
        const scenario = await harness.structured();
        const { parts, error } = await collect(scenario.model.stream(requests.structured));
        expect(error).toBeUndefined();
        expect(toolCallsOf(parts)).toEqual([]);
        const text = parts.map((part) => (part.type === 'text-delta' ? part.delta : '')).join('');
        expect(JSON.parse(text)).toEqual(modelContract.structured);
        expect(expectFinishedLast(parts).finishReason).toBe('stop');
      });
    });

    describe('messages: ModelV1Message fields only', () => {
      it('answers messages that carry storage fields (id, createdAt, runId) like plain ones', async () => {
        const scenario = await harness.text();
        const response = await scenario.model.generate(withStorageFields(requests.text));
        expect(response.content).toBe(modelContract.text);
        const { parts, error } = await collect(
          scenario.model.stream(withStorageFields(requests.text)),
        );
        expect(error).toBeUndefined();
        expect(expectFinishedLast(parts).finishReason).toBe('stop');
      });

      it('never sends storage fields: the wire body equals that of the plain messages (capability: bodies)', async (context) => {
        const scenario = await harness.toolCall();
        if (scenario.bodies === undefined) return context.skip('the harness cannot see the wire');
        const bodies = bodiesOf(scenario);
        // A conversation with every role, stored: system, user, assistant tool call, tool result.
        const call = {
          id: 'call_contract_1',
          name: 'get_weather',
          arguments: '{"city":"Paris","unit":"celsius"}',
        };
        const conversation: ModelRequest = {
          ...requests.toolCall,
          messages: [
            ...requests.toolCall.messages,
            { role: 'assistant', content: '', toolCalls: [call] },
            { role: 'tool', toolCallId: call.id, toolName: call.name, content: '18 °C, sunny' },
            { role: 'user', content: 'And tomorrow?' },
          ],
        };
        await scenario.model.generate(conversation);
        await scenario.model.generate(withStorageFields(conversation));
        await collect(scenario.model.stream(withStorageFields(conversation)));
        const [plain, stored, streamed] = bodies();
        expect(stored, 'same body with and without storage fields').toEqual(plain);
        expectNoStorageFields(stored);
        expectNoStorageFields(streamed);
      });
    });

    describe('providerOptions', () => {
      const probe = { buddy_contract_probe: 'sent-through', buddy_contract_number: 7 };
      const foreign = { buddy_contract_foreign: 'must-not-be-sent' };

      it('passes its own namespace through into the request body (capability: bodies)', async (context) => {
        const scenario = await harness.text();
        if (scenario.bodies === undefined) return context.skip('the harness cannot see the wire');
        const { model } = scenario;
        const providerOptions = { [model.provider]: probe, 'contract-other-provider': foreign };
        const response = await model.generate({ ...requests.text, providerOptions });
        expect(response.content).toBe(modelContract.text);
        const { error } = await collect(model.stream({ ...requests.text, providerOptions }));
        expect(error).toBeUndefined();
        for (const body of bodiesOf(scenario)()) {
          expect(body, 'own provider options in the body').toMatchObject(probe);
          expect(JSON.stringify(body), 'other namespaces stay out').not.toContain(
            'buddy_contract_foreign',
          );
        }
      });

      it('ignores the namespaces of other providers entirely (capability: bodies)', async (context) => {
        const scenario = await harness.text();
        if (scenario.bodies === undefined) return context.skip('the harness cannot see the wire');
        const { model } = scenario;
        await model.generate(requests.text);
        await model.generate({
          ...requests.text,
          providerOptions: { 'contract-other-provider': foreign },
        });
        const [plain, withForeign] = bodiesOf(scenario)();
        expect(withForeign).toEqual(plain);
      });

      it('answers a request with provider options for other providers only', async () => {
        const scenario = await harness.text();
        const request = {
          ...requests.text,
          providerOptions: { 'contract-other-provider': foreign },
        };
        const response = await scenario.model.generate(request);
        expect(response.content).toBe(modelContract.text);
        expectResponseShape(response);
      });
    });

    describe('warnings', () => {
      it('reports warnings, if any, as well-formed ModelWarning lists in generate() and finish', async () => {
        const scenario = await harness.text();
        const response = await scenario.model.generate(requests.text);
        expectResponseShape(response);
        const { parts } = await collect(scenario.model.stream(requests.text));
        expect(expectFinishedLast(parts).warnings).toEqual(response.warnings);
      });

      itIf(harness.unsupportedSetting)(
        'answers despite a setting it cannot honour, with an unsupported-setting warning in generate() and finish (capability: unsupportedSetting)',
        async () => {
          const {
            setting,
            request,
            scenario: make,
          } = harness.unsupportedSetting as UnsupportedSettingCase;
          const scenario = await make();
          const full: ModelRequest = { ...requests.text, ...request };
          const response = await scenario.model.generate(full);
          expect(response.content).toBe(modelContract.text);
          expectResponseShape(response);
          const warning = response.warnings?.find(
            (entry) => entry.type === 'unsupported-setting' && entry.setting === setting,
          );
          expect(warning, `an unsupported-setting warning for ${setting}`).toBeDefined();
          const { parts, error } = await collect(scenario.model.stream(full));
          expect(error).toBeUndefined();
          const finish = expectFinishedLast(parts);
          expect(finish.warnings, 'the finish part carries the same warnings').toEqual(
            response.warnings,
          );
        },
      );
    });

    describe('abort', () => {
      it('rejects generate() with ABORTED when the signal already fired, sending nothing', async () => {
        const scenario = await harness.text();
        const controller = new AbortController();
        controller.abort();
        const error = await rejection(
          scenario.model.generate(requests.text, { signal: controller.signal }),
        );
        expectBuddyError(error, 'ABORTED');
        if (scenario.requests !== undefined) expect(scenario.requests()).toHaveLength(0);
      });

      it('throws ABORTED from stream() before any part when the signal already fired', async () => {
        const scenario = await harness.text();
        const controller = new AbortController();
        controller.abort();
        const { parts, error } = await collect(
          scenario.model.stream(requests.text, { signal: controller.signal }),
        );
        expect(parts).toEqual([]);
        expectBuddyError(error, 'ABORTED');
      });

      it('rejects a pending generate() with ABORTED when the signal fires', async () => {
        const scenario = await harness.hang();
        const controller = new AbortController();
        const pending = rejection(
          scenario.model.generate(requests.text, { signal: controller.signal }),
        );
        await sleep(20);
        controller.abort();
        expectBuddyError(await pending, 'ABORTED');
      });

      it('throws ABORTED from a pending stream() when the signal fires', async () => {
        const scenario = await harness.hang();
        const controller = new AbortController();
        const pending = collect(
          scenario.model.stream(requests.text, { signal: controller.signal }),
        );
        await sleep(20);
        controller.abort();
        const { parts, error } = await pending;
        expect(parts).toEqual([]);
        expectBuddyError(error, 'ABORTED');
      });

      it('stops a stream aborted after its first part with ABORTED and no finish', async () => {
        const scenario = await harness.text();
        const controller = new AbortController();
        const { parts, error } = await collect(
          scenario.model.stream(requests.text, { signal: controller.signal }),
          () => controller.abort(),
        );
        expect(parts).toHaveLength(1);
        expectBuddyError(error, 'ABORTED');
      });

      itIf(harness.stall)(
        'throws ABORTED when a stalled stream is aborted (capability: stall)',
        async () => {
          const scenario = await (harness.stall as Factory)();
          const controller = new AbortController();
          const { parts, error } = await collect(
            scenario.model.stream(requests.text, { signal: controller.signal }),
            () => setTimeout(() => controller.abort(), 20),
          );
          expect(parts.length).toBeGreaterThanOrEqual(1);
          expect(parts.some((part) => part.type === 'finish')).toBe(false);
          expectBuddyError(error, 'ABORTED');
        },
      );
    });

    describe('errors (capability: error)', () => {
      const table: [number, BuddyErrorCode, boolean][] = [
        [401, 'MODEL_AUTH_FAILED', false],
        [429, 'MODEL_RATE_LIMITED', true],
        [500, 'MODEL_UNAVAILABLE', true],
      ];
      for (const [status, code, retryable] of table) {
        itIf(harness.error)(
          `maps HTTP ${status} to ${code} (retryable: ${retryable}) in generate() and stream()`,
          async () => {
            const makeScenario = harness.error as NonNullable<ModelAdapterHarness['error']>;
            const scenario = await makeScenario(status);
            const error = await rejection(scenario.model.generate(requests.text));
            expectBuddyError(error, code);
            expect(error.retryable).toBe(retryable);
            expect(error.cause, 'the vendor error is kept as cause').toBeDefined();
            expect(error.details.status).toBe(status);
            if (scenario.requests !== undefined) {
              expect(scenario.requests(), 'one request, no hidden retries').toHaveLength(1);
            }
            const streamed = await collect(scenario.model.stream(requests.text));
            expect(streamed.parts).toEqual([]);
            expectBuddyError(streamed.error, code);
            expect(streamed.error.retryable).toBe(retryable);
          },
        );
      }

      itIf(harness.midStreamError)(
        'throws a provider error sent inside the stream as MODEL_UNAVAILABLE, without finish',
        async () => {
          const scenario = await (harness.midStreamError as Factory)();
          const { parts, error } = await collect(scenario.model.stream(requests.text));
          expect(parts.some((part) => part.type === 'finish')).toBe(false);
          expectBuddyError(error, 'MODEL_UNAVAILABLE');
          expect(error.retryable).toBe(true);
          expect(error.cause).toBeDefined();
        },
      );
    });
  });
}
