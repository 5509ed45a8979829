import type { z } from 'zod';
import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { consoleLogger } from '../logging/console-logger.ts';
import type { AgentMemoryContract } from '../spec/agent-memory-v1.ts';
import type { Logger } from '../spec/logger.ts';
import type { Model, ProviderOptions } from '../spec/model-v1.ts';
import type { SessionMetadata, SessionStorage } from '../spec/session-storage-v1.ts';
import { assertSessionMetadata } from '../storage/write-validators.ts';
import { isTool, type Tool } from '../tools/tool.ts';
import { assertId } from '../validation/identifier.ts';
import { assertJsonObject } from '../validation/json-value.ts';
import type { AgentOptions, TelemetryOptions } from './agent-types.ts';
import { assertModel } from './assert-model.ts';
import type { ContextBudget } from './context-budget.ts';

/** Options after validation, with every default applied. */
export interface ResolvedAgentOptions {
  model: Model | undefined;
  agentId: string;
  name: string | undefined;
  description: string | undefined;
  instructions: string[];
  systemMessage: AgentOptions['systemMessage'];
  tools: Tool[];
  sessionId: string;
  sessionName: string | undefined;
  sessionState: Record<string, unknown>;
  cacheSession: boolean;
  userId: string | undefined;
  storage: SessionStorage | undefined;
  memory: AgentMemoryContract | undefined;
  addStateInMessages: boolean;
  addHistoryToMessages: boolean;
  numHistoryRuns: number;
  readChatHistory: boolean;
  searchPreviousSessionsHistory: boolean;
  numHistorySessions: number;
  enableSessionSummaries: boolean;
  addSessionSummaryReferences: boolean;
  enableUserMemories: boolean;
  addMemoryReferences: boolean;
  logger: Logger;
  leaseTtlMs: number;
  leaseWaitMs: number;
  stateSchema: z.ZodType<Record<string, unknown>> | undefined;
  postAnswerTimeoutMs: number;
  providerOptions: ProviderOptions | undefined;
  contextBudget: ContextBudget | undefined;
  enableAgenticState: boolean;
  readToolCallHistory: boolean;
  telemetry: TelemetryOptions;
  enableAgenticMemory: boolean;
  sessionMetadata: SessionMetadata | undefined;
  persistAbortedRuns: boolean;
}

const KNOWN_OPTIONS = new Set<string>([
  'model',
  'agentId',
  'name',
  'description',
  'instructions',
  'systemMessage',
  'tools',
  'sessionId',
  'sessionName',
  'sessionState',
  'cacheSession',
  'userId',
  'storage',
  'memory',
  'addStateInMessages',
  'addHistoryToMessages',
  'numHistoryRuns',
  'readChatHistory',
  'searchPreviousSessionsHistory',
  'numHistorySessions',
  'enableSessionSummaries',
  'addSessionSummaryReferences',
  'enableUserMemories',
  'addMemoryReferences',
  'logger',
  'sessionLease',
  'stateSchema',
  'postAnswerTimeoutMs',
  'providerOptions',
  'contextBudget',
  'enableAgenticState',
  'readToolCallHistory',
  'telemetry',
  'enableAgenticMemory',
  'sessionMetadata',
  'persistAbortedRuns',
]);

function fail(
  message: string,
  code: 'INVALID_ARGUMENT' | 'UNSUPPORTED_SPEC_VERSION' = 'INVALID_ARGUMENT',
): never {
  throw new BuddyError({ code, message: `Agent: ${message}` });
}

function optionalString(options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    fail(`option '${key}' must be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

function optionalText(options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    fail(`option '${key}' must be a string, got ${describeValue(value)}`);
  return value;
}

function boolean(options: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    fail(`option '${key}' must be true or false, got ${describeValue(value)}`);
  return value;
}

function count(options: Record<string, unknown>, key: string, fallback: number): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(`option '${key}' must be an integer >= 0, got ${describeValue(value)}`);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function assertStorage(value: unknown): asserts value is SessionStorage {
  if (typeof value !== 'object' || value === null) {
    fail(
      `option 'storage' must be a SessionStorage (e.g. new SqliteStorage()), got ${describeValue(value)}`,
    );
  }
  const storage = value as Partial<SessionStorage>;
  if (storage.specificationVersion !== 'v1') {
    fail(
      `option 'storage' implements storage specification ${describeValue(storage.specificationVersion)}; this version of @buddy/core supports 'v1'`,
      'UNSUPPORTED_SPEC_VERSION',
    );
  }
  for (const method of [
    'getSession',
    'upsertSession',
    'appendRun',
    'getRuns',
    'acquireLease',
    'listSessions',
  ] as const) {
    if (typeof storage[method] !== 'function')
      fail(`option 'storage' is missing the method ${method}()`);
  }
}

function assertMemory(value: unknown): asserts value is AgentMemoryContract {
  const memory = value as Partial<AgentMemoryContract> | null;
  if (typeof value !== 'object' || memory === null || typeof memory.attach !== 'function') {
    fail(
      `option 'memory' must be an AgentMemory (new AgentMemory(...) from @buddy/memory), got ${describeValue(value)}`,
    );
  }
  if (memory.specificationVersion !== 'v1') {
    fail(
      `option 'memory' implements memory specification ${describeValue(memory.specificationVersion)}; this version of @buddy/core supports 'v1'`,
      'UNSUPPORTED_SPEC_VERSION',
    );
  }
}

/** Validates `new Agent(options)` and applies defaults. Every error names the bad option. */
export function validateAgentOptions(input: unknown, makeId: () => string): ResolvedAgentOptions {
  if (input === undefined) input = {};
  if (!isPlainObject(input)) fail(`options must be an object, got ${describeValue(input)}`);
  const options = input;
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) fail(`unknown option '${key}'`);
  }

  if (options.model !== undefined) assertModel(options.model, "Agent: option 'model'");
  if (options.storage !== undefined) assertStorage(options.storage);
  if (options.memory !== undefined) assertMemory(options.memory);

  let instructions: string[] = [];
  if (typeof options.instructions === 'string') instructions = [options.instructions];
  else if (Array.isArray(options.instructions)) {
    options.instructions.forEach((line, index) => {
      if (typeof line !== 'string')
        fail(`option 'instructions[${index}]' must be a string, got ${describeValue(line)}`);
    });
    instructions = options.instructions as string[];
  } else if (options.instructions !== undefined) {
    fail(
      `option 'instructions' must be a string or an array of strings, got ${describeValue(options.instructions)}`,
    );
  }

  const systemMessage = options.systemMessage;
  if (
    systemMessage !== undefined &&
    typeof systemMessage !== 'string' &&
    typeof systemMessage !== 'function'
  ) {
    fail(
      `option 'systemMessage' must be a string or a function, got ${describeValue(systemMessage)}`,
    );
  }

  const tools = options.tools ?? [];
  if (!Array.isArray(tools))
    fail(`option 'tools' must be an array of tool() values, got ${describeValue(tools)}`);
  const toolNames = new Set<string>();
  tools.forEach((entry, index) => {
    if (!isTool(entry))
      fail(`option 'tools[${index}]' is not a tool made with tool(), got ${describeValue(entry)}`);
    if (toolNames.has(entry.name)) fail(`option 'tools' has two tools named '${entry.name}'`);
    toolNames.add(entry.name);
  });

  const sessionState = options.sessionState ?? {};
  if (!isPlainObject(sessionState)) {
    fail(`option 'sessionState' must be a plain object, got ${describeValue(sessionState)}`);
  }
  try {
    assertJsonObject(sessionState, 'sessionState');
  } catch (error) {
    fail(`option ${(error as BuddyError).message}`);
  }
  const stateSchema = options.stateSchema;
  if (
    stateSchema !== undefined &&
    (typeof stateSchema !== 'object' ||
      stateSchema === null ||
      typeof (stateSchema as { safeParse?: unknown }).safeParse !== 'function')
  ) {
    fail(
      `option 'stateSchema' must be a zod schema (z.object({...})), got ${describeValue(stateSchema)}`,
    );
  }

  const logger = options.logger ?? consoleLogger;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof (logger as Logger).warn !== 'function'
  ) {
    fail(
      `option 'logger' must have debug(), warn() and error() methods, got ${describeValue(logger)}`,
    );
  }

  const lease = options.sessionLease ?? {};
  if (!isPlainObject(lease))
    fail(`option 'sessionLease' must be an object, got ${describeValue(lease)}`);
  const leaseTtlMs = count(lease, 'ttlMs', 15_000);
  const leaseWaitMs = count(lease, 'waitMs', 30_000);
  if (leaseTtlMs < 100) fail(`option 'sessionLease.ttlMs' must be at least 100, got ${leaseTtlMs}`);

  const enableSessionSummaries = boolean(options, 'enableSessionSummaries', false);
  const enableUserMemories = boolean(options, 'enableUserMemories', false);
  const addSessionSummaryReferences = boolean(
    options,
    'addSessionSummaryReferences',
    enableSessionSummaries,
  );
  const addMemoryReferences = boolean(options, 'addMemoryReferences', enableUserMemories);
  if (options.memory === undefined) {
    for (const key of [
      'enableAgenticMemory',
      'enableSessionSummaries',
      'enableUserMemories',
      'addSessionSummaryReferences',
      'addMemoryReferences',
    ] as const) {
      if (options[key] === true) {
        fail(
          `option '${key}' needs a memory: pass memory: new AgentMemory(...) from @buddy/memory`,
        );
      }
    }
  }

  const providerOptions = options.providerOptions;
  if (providerOptions !== undefined) {
    if (!isPlainObject(providerOptions)) {
      fail(
        `option 'providerOptions' must be an object keyed by provider (e.g. { openai: { ... } }), got ${describeValue(providerOptions)}`,
      );
    }
    for (const [provider, value] of Object.entries(providerOptions)) {
      if (!isPlainObject(value)) {
        fail(`option 'providerOptions.${provider}' must be an object, got ${describeValue(value)}`);
      }
      try {
        assertJsonObject(value, `providerOptions.${provider}`);
      } catch (error) {
        fail(`option ${(error as BuddyError).message}`);
      }
    }
  }
  const contextBudget = options.contextBudget;
  if (contextBudget !== undefined) {
    if (!isPlainObject(contextBudget)) {
      fail(
        `option 'contextBudget' must be { maxInputTokens, countTokens? }, got ${describeValue(contextBudget)}`,
      );
    }
    for (const key of Object.keys(contextBudget)) {
      if (key !== 'maxInputTokens' && key !== 'countTokens') {
        fail(
          `option 'contextBudget' has an unknown key '${key}' (known: maxInputTokens, countTokens)`,
        );
      }
    }
    const max = contextBudget.maxInputTokens;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
      fail(
        `option 'contextBudget.maxInputTokens' must be an integer >= 1, got ${describeValue(max)}`,
      );
    }
    if (
      contextBudget.countTokens !== undefined &&
      typeof contextBudget.countTokens !== 'function'
    ) {
      fail(
        `option 'contextBudget.countTokens' must be a function (text) => number, got ${describeValue(contextBudget.countTokens)}`,
      );
    }
  }
  const telemetry = options.telemetry ?? {};
  if (!isPlainObject(telemetry)) {
    fail(
      `option 'telemetry' must be { enabled?, recordContent?, recordUserId? }, got ${describeValue(telemetry)}`,
    );
  }
  for (const key of Object.keys(telemetry)) {
    if (!['enabled', 'recordContent', 'recordUserId'].includes(key)) {
      fail(
        `option 'telemetry' has an unknown key '${key}' (known: enabled, recordContent, recordUserId)`,
      );
    }
    boolean(telemetry, key, false);
  }
  if (options.sessionMetadata !== undefined) {
    try {
      assertSessionMetadata(options.sessionMetadata, 'sessionMetadata');
    } catch (error) {
      fail(`option ${(error as BuddyError).message}`);
    }
  }
  const postAnswerTimeoutMs = count(options, 'postAnswerTimeoutMs', 60_000);
  if (postAnswerTimeoutMs < 1)
    fail(`option 'postAnswerTimeoutMs' must be at least 1, got ${postAnswerTimeoutMs}`);

  for (const key of ['userId', 'sessionId', 'agentId'] as const) {
    if (options[key] !== undefined) assertId(options[key], `Agent: option '${key}'`);
  }
  const userId = optionalString(options, 'userId');
  const sessionId = optionalString(options, 'sessionId') ?? makeId();
  return {
    model: options.model as Model | undefined,
    agentId: optionalString(options, 'agentId') ?? makeId(),
    name: optionalText(options, 'name'),
    description: optionalText(options, 'description'),
    instructions,
    systemMessage: systemMessage as AgentOptions['systemMessage'],
    tools: tools as Tool[],
    sessionId,
    sessionName: optionalString(options, 'sessionName'),
    sessionState,
    cacheSession: boolean(options, 'cacheSession', true),
    userId,
    storage: options.storage as SessionStorage | undefined,
    memory: options.memory as AgentMemoryContract | undefined,
    addStateInMessages: boolean(options, 'addStateInMessages', false),
    addHistoryToMessages: boolean(options, 'addHistoryToMessages', false),
    numHistoryRuns: count(options, 'numHistoryRuns', 3),
    readChatHistory: boolean(options, 'readChatHistory', false),
    searchPreviousSessionsHistory: boolean(options, 'searchPreviousSessionsHistory', false),
    numHistorySessions: count(options, 'numHistorySessions', 2),
    enableSessionSummaries,
    addSessionSummaryReferences,
    enableUserMemories,
    addMemoryReferences,
    logger: logger as Logger,
    leaseTtlMs,
    leaseWaitMs,
    stateSchema: stateSchema as z.ZodType<Record<string, unknown>> | undefined,
    postAnswerTimeoutMs,
    providerOptions: providerOptions as ProviderOptions | undefined,
    contextBudget: contextBudget as ContextBudget | undefined,
    enableAgenticState: boolean(options, 'enableAgenticState', false),
    readToolCallHistory: boolean(options, 'readToolCallHistory', false),
    telemetry: telemetry as TelemetryOptions,
    enableAgenticMemory: boolean(options, 'enableAgenticMemory', false),
    sessionMetadata: options.sessionMetadata as SessionMetadata | undefined,
    persistAbortedRuns: boolean(options, 'persistAbortedRuns', false),
  };
}
