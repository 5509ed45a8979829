/**
 * What the session-storage suites share: the harness a backend supplies, unique ids, and runs
 * shaped as the Agent builds them.
 */
import type { Logger, SessionStorage, StoredMessage, StoredRun } from '@buddy/core';

/** What a session-storage backend supplies to `describeSessionStorageContract`. */
export interface SessionStorageHarness {
  /**
   * A fresh, isolated storage (unique key prefix, temp file, or `:memory:`), constructed with the
   * given `logger` when there is one (the corrupt-session cases check what it reports).
   */
  create(options: { logger?: Logger }): Promise<SessionStorage>;
  /**
   * A second storage instance over the same data, as another process would open it. Used by the
   * concurrency cases; when absent they use the same instance (in-memory stores).
   */
  createPeer?(storage: SessionStorage): Promise<SessionStorage>;
  /** Overwrites the stored record of `sessionId` with data that cannot be parsed or validated. */
  corruptSession(storage: SessionStorage, sessionId: string): Promise<void>;
  /** Overwrites one stored run of `sessionId` with invalid data. Skipped when absent. */
  corruptRun?(storage: SessionStorage, sessionId: string): Promise<void>;
  /**
   * Overwrites the lease entry of `sessionId` with a value of the wrong type (a Redis key of
   * another type, a garbage row). Its case is skipped when absent.
   */
  corruptLease?(storage: SessionStorage, sessionId: string): Promise<void>;
  /** Releases what `create` made (temp files, keys). Called once per created storage. */
  dispose?(storage: SessionStorage): Promise<void>;
}

let counter = 0;
/** A unique id per call, so cases never collide even on a shared backend. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A run as the Agent builds it: a user message and an assistant answer. */
export function makeRun(
  sessionId: string,
  text: string,
  extra: { userId?: string; answer?: string; createdAt?: number } = {},
): Omit<StoredRun, 'index'> {
  const runId = uniqueId('run');
  const now = extra.createdAt ?? Date.now();
  const messages: StoredMessage[] = [
    { role: 'user', content: text, id: uniqueId('msg'), createdAt: now, runId },
    {
      role: 'assistant',
      content: extra.answer ?? `answer to ${text}`,
      id: uniqueId('msg'),
      createdAt: now + 1,
      runId,
    },
  ];
  return {
    runId,
    sessionId,
    ...(extra.userId === undefined ? {} : { userId: extra.userId }),
    messages,
    usage: { inputTokens: 10, outputTokens: 5 },
    model: { provider: 'mock', id: 'mock-model' },
    createdAt: now,
    completedAt: now + 2,
  };
}
