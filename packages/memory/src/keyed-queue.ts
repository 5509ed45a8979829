/**
 * Runs work one after the other per key (a session or a user) inside one process. The Agent runs
 * post-answer work outside its session lock, so two quick runs would otherwise summarize the same
 * runs twice, or add the same memory twice. Keys are dropped once their work drains.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
