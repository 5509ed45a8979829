/**
 * Keys marked within the last `ttlMs`, at most `maxKeys` of them: a per-process shortcut ("this
 * user's memories were all embedded a moment ago") whose memory stays bounded however many keys
 * pass through a long-running process. Map order is marking order, so the first entries are the
 * oldest: marking drops every expired one from the front, and the oldest when over `maxKeys`.
 *
 * @internal
 */
export class RecentMarks {
  readonly #marks = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxKeys: number;

  constructor(ttlMs: number, maxKeys: number) {
    this.#ttlMs = ttlMs;
    this.#maxKeys = maxKeys;
  }

  /** Whether `key` was marked less than `ttlMs` ago. */
  has(key: string, now = Date.now()): boolean {
    const at = this.#marks.get(key);
    return at !== undefined && now - at < this.#ttlMs;
  }

  /** Marks `key` now (moving it behind every other mark). */
  mark(key: string, now = Date.now()): void {
    this.#marks.delete(key);
    this.#marks.set(key, now);
    for (const [oldest, at] of this.#marks) {
      if (this.#marks.size <= this.#maxKeys && now - at < this.#ttlMs) break;
      this.#marks.delete(oldest);
    }
  }

  /** Forgets `key` (its next check is a real one). */
  delete(key: string): void {
    this.#marks.delete(key);
  }

  /** Number of marks held (for tests and diagnostics). */
  get size(): number {
    return this.#marks.size;
  }
}
