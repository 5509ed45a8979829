import { randomUUID } from 'node:crypto';
import type { StoredRun } from '../spec/session-storage-v1.ts';
import type {
  AssistantMessage,
  Message,
  MessagePair,
  StoredMessage,
  UserMessage,
} from './message.ts';
import { withFields } from './with-fields.ts';

/** Stamps a message with an id, a timestamp and its run. */
export function stampMessage<TMessage extends Message>(
  message: TMessage,
  runId: string,
  now: number = Date.now(),
): TMessage & { id: string; createdAt: number; runId: string } {
  return withFields(message, {
    id: message.id ?? randomUUID(),
    createdAt: message.createdAt ?? now,
    runId,
  }) as TMessage & { id: string; createdAt: number; runId: string };
}

/**
 * The (user, final assistant) pair of a run: the run's first user message and its last assistant
 * message. Tool chatter is excluded. `undefined` when the run has no such pair.
 */
export function runToPair(run: Pick<StoredRun, 'messages'>): MessagePair | undefined {
  const user = run.messages.find(
    (message): message is UserMessage & StoredMessage => message.role === 'user',
  );
  let assistant: (AssistantMessage & StoredMessage) | undefined;
  for (let index = run.messages.length - 1; index >= 0; index--) {
    const message = run.messages[index];
    if (message?.role === 'assistant') {
      assistant = message;
      break;
    }
  }
  if (user === undefined || assistant === undefined) return undefined;
  return [user, assistant];
}

/** The (user, final assistant) pairs of runs, in order. */
export function runsToPairs(runs: readonly Pick<StoredRun, 'messages'>[]): MessagePair[] {
  const pairs: MessagePair[] = [];
  for (const run of runs) {
    const pair = runToPair(run);
    if (pair !== undefined) pairs.push(pair);
  }
  return pairs;
}

/** Rough token estimate (4 characters per token) for budgets and mocks, never for billing. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
