/**
 * Serializes work per key (a session id) inside one process, while different keys run in
 * parallel. Entries are dropped when their queue drains, so memory stays bounded by the number of
 * sessions with work in flight.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release: () => void = () => {};
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Number of keys with queued or running work (for tests and diagnostics). */
  get size(): number {
    return this.#tails.size;
  }
}
