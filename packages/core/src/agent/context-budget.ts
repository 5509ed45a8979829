/**
 * The context budget (SPEC §13.3): every model request of a run — each round of the tool loop,
 * not only the first — counts at most `maxInputTokens`. A request counts as `countTokens` summed
 * over the text of every message, each tool call's name and argument JSON, and each tool
 * definition's name, description and JSON schema. When it is over, the planner trims in a fixed
 * order: the oldest history runs first (whole runs, so a tool call never loses its result), then
 * memories (least relevant, or oldest, first), then the summary's topics, then the summary. When
 * runs are left out the system message says so. The system instructions, the current input and
 * this run's own messages are never cut: when they alone are over, the run fails with
 * `CONTEXT_TOO_LARGE` before that model call.
 */
import { BuddyError } from '../errors/buddy-error.ts';
import type { Message } from '../messages/message.ts';
import type { UserMemory } from '../spec/memory-db-v1.ts';
import type { ModelRequest, ModelToolDefinition, ModelV1Message } from '../spec/model-v1.ts';
import type { SessionSummaryRecord, StoredRun } from '../spec/session-storage-v1.ts';
import { toModelMessages } from './run-tool-loop.ts';

/** `contextBudget` of `new Agent(...)`. */
export interface ContextBudget {
  /** The most tokens one model request may count. */
  maxInputTokens: number;
  /** Counts a text's tokens. Default: the model's `countTokens`, else characters / 3. */
  countTokens?: (text: string) => number;
}

/** A conservative estimate when nothing better is known: at least one token per 3 characters. */
export function conservativeTokenCount(text: string): number {
  return Math.ceil(text.length / 3);
}

/** Tokens of one message: its text, and each tool call's name and argument JSON. */
export function messageTokens(message: ModelV1Message, count: (text: string) => number): number {
  let total = count(message.content);
  if (message.role === 'assistant') {
    for (const call of message.toolCalls ?? []) total += count(call.name) + count(call.arguments);
  }
  return total;
}

/** Tokens of the tool definitions of a request: name, description and JSON schema (text). */
export function toolTokens(
  tools: readonly ModelToolDefinition[] | undefined,
  count: (text: string) => number,
): number {
  let total = 0;
  for (const tool of tools ?? []) {
    total +=
      count(tool.name) + count(tool.description ?? '') + count(JSON.stringify(tool.parameters));
  }
  return total;
}

/** Tokens of a whole request, as SPEC §13.3 counts them. */
export function requestTokens(request: ModelRequest, count: (text: string) => number): number {
  let total = toolTokens(request.tools, count);
  for (const message of request.messages) total += messageTokens(message, count);
  return total;
}

/** What the system message is made of, so the planner can compose it with fewer parts. */
export interface SystemParts {
  /** Composes the system text from the kept parts; `undefined` when it would be empty. */
  compose(parts: {
    memories: readonly UserMemory[];
    summary: SessionSummaryRecord | undefined;
    omittedRuns: number;
  }): string | undefined;
  memories: readonly UserMemory[];
  summary: SessionSummaryRecord | undefined;
}

/** The marker added to the system message when runs are left out. */
export function omittedRunsMarker(count: number): string {
  return `Note: the ${count} earliest run${count === 1 ? '' : 's'} of this conversation ${count === 1 ? 'is' : 'are'} left out to fit the context window; the summary of previous interactions covers what they said.`;
}

interface Plan {
  runs: number;
  memories: number;
  topics: number;
  summary: boolean;
}

/**
 * Makes the `prepareRequest` of a run: it rebuilds every request from the system parts, the
 * history runs that fit, and the run's own messages (everything after `prefixLength` messages of
 * the loop's conversation). Plans only shrink within a run, so every round stays consistent.
 */
export function createContextPlanner(input: {
  budget: ContextBudget;
  count: (text: string) => number;
  system: SystemParts;
  history: readonly StoredRun[];
  /** Messages of the loop's conversation before the run's own: system (if any) and history. */
  prefixLength: number;
}): (request: ModelRequest) => ModelRequest {
  const { budget, count, system, history } = input;
  const historyMessages = history.map((run) => toModelMessages(run.messages));
  const historyCost = historyMessages.map((messages) =>
    messages.reduce((sum, message) => sum + messageTokens(message, count), 0),
  );
  const plan: Plan = {
    runs: history.length,
    memories: system.memories.length,
    topics: system.summary?.topics?.length ?? 0,
    summary: system.summary !== undefined,
  };

  const systemText = (current: Plan): string | undefined => {
    const summary =
      !current.summary || system.summary === undefined
        ? undefined
        : {
            ...system.summary,
            ...(system.summary.topics === undefined
              ? {}
              : { topics: system.summary.topics.slice(0, current.topics) }),
          };
    return system.compose({
      memories: system.memories.slice(0, current.memories),
      summary,
      omittedRuns: history.length - current.runs,
    });
  };

  const build = (
    current: Plan,
    own: readonly ModelV1Message[],
    request: ModelRequest,
  ): ModelRequest => {
    const text = systemText(current);
    const kept = historyMessages.slice(history.length - current.runs).flat();
    return {
      ...request,
      messages: [
        ...(text === undefined ? [] : [{ role: 'system' as const, content: text }]),
        ...kept,
        ...own,
      ],
    };
  };

  /** One step smaller, in the order of SPEC §13.3; `false` when nothing is left to trim. */
  const shrink = (current: Plan): boolean => {
    if (current.runs > 0) {
      current.runs--;
      return true;
    }
    if (current.memories > 0) {
      current.memories--;
      return true;
    }
    if (current.topics > 0) {
      current.topics--;
      return true;
    }
    if (current.summary) {
      current.summary = false;
      return true;
    }
    return false;
  };

  return (request) => {
    const own = request.messages.slice(input.prefixLength);
    const fixedTokens =
      toolTokens(request.tools, count) +
      own.reduce((sum, message) => sum + messageTokens(message, count), 0);
    // Estimate with per-part counts, then confirm on the composed request (exact for the counter).
    const estimate = (current: Plan) => {
      const text = systemText(current);
      let total = fixedTokens + (text === undefined ? 0 : count(text));
      for (let index = history.length - current.runs; index < history.length; index++) {
        total += historyCost[index] ?? 0;
      }
      return total;
    };
    while (estimate(plan) > budget.maxInputTokens && shrink(plan)) {
      // keep trimming
    }
    let built = build(plan, own, request);
    while (requestTokens(built, count) > budget.maxInputTokens) {
      if (!shrink(plan)) {
        throw new BuddyError({
          code: 'CONTEXT_TOO_LARGE',
          message: `The request needs ${requestTokens(built, count)} tokens even with no history, memories or summary, over contextBudget.maxInputTokens (${budget.maxInputTokens}): the system instructions, tool definitions, the input and this run's messages alone do not fit; no model call was made for it`,
          details: { maxInputTokens: budget.maxInputTokens, tokens: requestTokens(built, count) },
        });
      }
      built = build(plan, own, request);
    }
    return built;
  };
}

/** Splits the loop's first conversation into its prefix length (system + history messages). */
export function prefixLength(messages: readonly Message[], history: readonly StoredRun[]): number {
  const historyCount = history.reduce((sum, run) => sum + run.messages.length, 0);
  return (messages[0]?.role === 'system' ? 1 : 0) + historyCount;
}
