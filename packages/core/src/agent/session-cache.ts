/**
 * `SessionCache`: what `cacheSession: true` keeps in process between runs — the history runs of a
 * session, so a turn does not read them again. An entry is used only for the very record it was
 * made from: same incarnation and same version (SPEC §10.3). A session deleted and recreated
 * elsewhere has a new incarnation, so its old history is never replayed. One reset path: `forget`.
 */
import type { SessionRecord, StoredRun } from '../spec/session-storage-v1.ts';

/** Sessions kept; the least recently used is dropped first. */
export const MAX_CACHED_SESSIONS = 1000;

interface Entry {
  incarnation: string;
  version: number;
  /** The last `numHistoryRuns` runs, in order. */
  history: readonly StoredRun[];
}

/** The history cache of `cacheSession: true`; see the module comment. */
export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #enabled: boolean;

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** The cached history of `record`, or `undefined` when the cache does not hold exactly it. */
  history(record: SessionRecord): readonly StoredRun[] | undefined {
    const entry = this.#entries.get(record.sessionId);
    if (entry === undefined) return undefined;
    if (entry.incarnation !== record.incarnation || entry.version !== record.version) {
      this.#entries.delete(record.sessionId);
      return undefined;
    }
    return entry.history;
  }

  /** Remembers the history of a session as of `(incarnation, version)`. */
  remember(
    sessionId: string,
    key: { incarnation: string; version: number },
    history: readonly StoredRun[],
  ): void {
    if (!this.#enabled) return;
    this.#entries.delete(sessionId);
    this.#entries.set(sessionId, { incarnation: key.incarnation, version: key.version, history });
    if (this.#entries.size > MAX_CACHED_SESSIONS) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  /**
   * After a write of our own that changed no runs (a rename, a summary) and returned `record`:
   * the cached history is still that of the new version when it was that of the one before.
   */
  advance(record: SessionRecord): void {
    const entry = this.#entries.get(record.sessionId);
    if (entry === undefined) return;
    if (entry.incarnation === record.incarnation && entry.version + 1 === record.version) {
      entry.version = record.version;
    } else {
      this.#entries.delete(record.sessionId);
    }
  }

  /** Drops one session (`sessionId`) or everything. */
  forget(sessionId?: string): void {
    if (sessionId === undefined) this.#entries.clear();
    else this.#entries.delete(sessionId);
  }

  /** Sessions held (for tests and diagnostics). */
  get size(): number {
    return this.#entries.size;
  }
}
