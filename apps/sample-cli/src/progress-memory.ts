/**
 * `ProgressMemory`: an `AgentMemory` that says when its post-answer work starts and ends, so the
 * REPL can show "updating summary…" / "updating memories…" after the answer instead of sitting
 * silent while the summarizer, the classifier and the memory manager call the model.
 */
import { AgentMemory } from '@buddy/memory';

/** A kind of post-answer work. */
export type MemoryWork = 'summary' | 'memories';

/** Called with the work in progress whenever it changes (an empty set: all done). */
export type MemoryProgressListener = (active: ReadonlySet<MemoryWork>) => void;

/**
 * An `AgentMemory` whose session summaries and memory updates report their start and end to one
 * listener.
 *
 * @example
 * const memory = new ProgressMemory({ db, model });
 * memory.onProgress((active) => console.log([...active])); // ['summary', 'memories'], …, []
 */
export class ProgressMemory extends AgentMemory {
  readonly #active = new Map<MemoryWork, number>();
  #listener: MemoryProgressListener | undefined;

  /** Sets (or, with `undefined`, removes) the one listener. */
  onProgress(listener: MemoryProgressListener | undefined): void {
    this.#listener = listener;
  }

  async #track<T>(work: MemoryWork, task: () => Promise<T>): Promise<T> {
    this.#active.set(work, (this.#active.get(work) ?? 0) + 1);
    this.#notify();
    try {
      return await task();
    } finally {
      const left = (this.#active.get(work) ?? 1) - 1;
      if (left === 0) this.#active.delete(work);
      else this.#active.set(work, left);
      this.#notify();
    }
  }

  #notify(): void {
    this.#listener?.(new Set(this.#active.keys()));
  }

  override updateSessionSummary(
    input: Parameters<AgentMemory['updateSessionSummary']>[0],
  ): ReturnType<AgentMemory['updateSessionSummary']> {
    return this.#track('summary', () => super.updateSessionSummary(input));
  }

  override updateUserMemories(
    input: Parameters<AgentMemory['updateUserMemories']>[0],
  ): Promise<void> {
    return this.#track('memories', () => super.updateUserMemories(input));
  }
}
