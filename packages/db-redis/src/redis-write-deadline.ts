/**
 * Timing rules of every session write (see the README, "Timing rules"): a write carries a deadline
 * on the server's clock and the script refuses to write after it, so a write whose caller has
 * given up (its reply timed out) can never land later. The deadline is taken from the offset
 * between this process's clock and the server's, learned from the server's `TIME` in the replies
 * of lease and write scripts.
 */

/** The longest a session write may take from its first step to its script, in ms. */
export const MAX_WRITE_BUDGET_MS = 60_000;

/**
 * How old an index entry must be before listing may remove it for a session that is missing or
 * belongs to someone else: longer than any write can take (`MAX_WRITE_BUDGET_MS`), plus four
 * minutes for clock differences between application servers.
 */
export const INDEX_GRACE_MS = 5 * 60_000;

/** One measurement of the server's clock against this process's. */
export interface ClockSample {
  /** Server ms minus local ms at the middle of the round trip. */
  offsetMs: number;
  /** The round trip it was measured over: the offset is right within half of it. */
  rttMs: number;
}

/** A `ClockSample` from a reply carrying the server's clock. */
export function sampleClock(serverMs: number, sentAt: number, receivedAt: number): ClockSample {
  return {
    offsetMs: serverMs - (sentAt + receivedAt) / 2,
    rttMs: Math.max(0, receivedAt - sentAt),
  };
}

/** The latest good measurement of one server's clock. */
export class ServerClock {
  #sample: ClockSample | undefined;

  get sample(): ClockSample | undefined {
    return this.#sample;
  }

  /** Keeps `sample` unless it was measured over a much slower round trip than the current one. */
  observe(sample: ClockSample): void {
    const current = this.#sample;
    if (current === undefined || sample.rttMs <= Math.max(current.rttMs * 4, 50)) {
      this.#sample = sample;
    }
  }
}

/**
 * The server time (ms) after which a write started at `startedAt` (local ms) must not happen:
 * before the caller's own timeout (`budgetMs`, at most `MAX_WRITE_BUDGET_MS`) by a margin of a
 * quarter of the budget (at most 1 s) plus the round trip the offset was measured over.
 */
export function writeDeadline(sample: ClockSample, startedAt: number, budgetMs: number): number {
  const budget = Math.min(budgetMs, MAX_WRITE_BUDGET_MS);
  const margin = Math.min(budget / 4, 1_000) + sample.rttMs;
  return Math.floor(startedAt + sample.offsetMs + budget - margin);
}
