/**
 * `OwnSession`: the one owner of "the agent's own session" — its id, name, summary, and the state
 * the getters show. Every change goes through `adopt` (a session read or written) or `reset` (a new
 * or deleted session), so the getters can never show a state that storage no longer has.
 *
 * Edits the caller makes to `agent.sessionState` between runs are always persisted by the next run
 * of the own session (whether or not `cacheSession` is on): the top-level keys whose JSON changed
 * since the state was handed out become per-run overrides over the stored state, so they never
 * overwrite keys another process changed meanwhile.
 */
import type { SessionSummaryRecord } from '../spec/session-storage-v1.ts';
import type { StateEdits } from './session-state.ts';

function fingerprint(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined; // a value JSON cannot hold: always reported as an edit, then refused
  }
}

/** What `#mark` remembers of an object value: its JSON (`undefined`: JSON cannot hold it). */
class Fingerprint {
  readonly json: string | undefined;
  constructor(json: string | undefined) {
    this.json = json;
  }
}

/**
 * A string, boolean, `null` or finite number is remembered as itself: two of them have the same
 * JSON exactly when they are `===`, so they need no `JSON.stringify` (the bench's state is
 * mostly a 900-character string, stringified twice a turn before).
 */
function isPlainPrimitive(value: unknown): value is string | boolean | number | null {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    value === null ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function remember(value: unknown): unknown {
  return isPlainPrimitive(value) ? value : new Fingerprint(fingerprint(value));
}

/** Whether `value` has changed from what `remember` kept (as comparing their JSON would say). */
function isEdited(before: unknown, value: unknown): boolean {
  if (before instanceof Fingerprint) {
    if (before.json === undefined) return true;
    const now = isPlainPrimitive(value) ? JSON.stringify(value) : fingerprint(value);
    return now === undefined || now !== before.json;
  }
  if (isPlainPrimitive(value)) return before !== value;
  // A primitive replaced by an object (e.g. one with toJSON): compare their JSON.
  const now = fingerprint(value);
  return now === undefined || now !== JSON.stringify(before);
}

/** The agent's own session as its getters show it; see the module comment. */
export class OwnSession<TState extends Record<string, unknown>> {
  #sessionId: string;
  #sessionName: string | undefined;
  #summary: SessionSummaryRecord | undefined;
  #state: TState;
  #baseline = new Map<string, unknown>();
  readonly #defaults: (sessionId: string) => TState;

  /** `defaults(sessionId)` makes a fresh default state for a session (seeded with its ids). */
  constructor(options: {
    sessionId: string;
    sessionName: string | undefined;
    defaults: (sessionId: string) => TState;
  }) {
    this.#defaults = options.defaults;
    this.#sessionId = options.sessionId;
    this.#sessionName = options.sessionName;
    this.#state = options.defaults(options.sessionId);
    this.#mark();
  }

  get sessionId(): string {
    return this.#sessionId;
  }
  get sessionName(): string | undefined {
    return this.#sessionName;
  }
  get summary(): SessionSummaryRecord | undefined {
    return this.#summary;
  }
  /** The state the getters show; the caller may edit it (see the module comment). */
  get state(): TState {
    return this.#state;
  }

  /** Remembers the JSON of every top-level key, to tell edits from what was handed out. */
  #mark(): void {
    this.#baseline = new Map();
    for (const key of Object.keys(this.#state)) {
      this.#baseline.set(key, remember(this.#state[key]));
    }
  }

  /** The caller's top-level edits since the state was handed out. */
  edits(): StateEdits {
    const set: Record<string, unknown> = {};
    const removed: string[] = [];
    for (const key of Object.keys(this.#state)) {
      const value = this.#state[key];
      if (!this.#baseline.has(key) || isEdited(this.#baseline.get(key), value)) set[key] = value;
    }
    for (const key of this.#baseline.keys())
      if (!Object.hasOwn(this.#state, key)) removed.push(key);
    return { set, removed };
  }

  /** The own session as read or just written: its state (owned by this view from now on). */
  adopt(input: {
    record?: { sessionName?: string | undefined; summary?: SessionSummaryRecord | undefined };
    state: TState;
  }): void {
    this.#state = input.state;
    if (input.record !== undefined) {
      this.#sessionName = input.record.sessionName ?? this.#sessionName;
      this.#summary = input.record.summary;
    }
    this.#mark();
  }

  /** A session that is not stored (new, or just deleted): the default state, no summary. */
  reset(sessionId: string = this.#sessionId, sessionName?: string): void {
    this.#sessionId = sessionId;
    this.#sessionName = sessionName;
    this.#summary = undefined;
    this.#state = this.#defaults(sessionId);
    this.#mark();
  }

  rename(sessionName: string): void {
    this.#sessionName = sessionName;
  }

  setSummary(summary: SessionSummaryRecord | undefined): void {
    this.#summary = summary;
  }

  /** Everything, to restore after a failed switch. */
  snapshot(): () => void {
    const saved = {
      sessionId: this.#sessionId,
      sessionName: this.#sessionName,
      summary: this.#summary,
      state: this.#state,
      baseline: this.#baseline,
    };
    return () => {
      this.#sessionId = saved.sessionId;
      this.#sessionName = saved.sessionName;
      this.#summary = saved.summary;
      this.#state = saved.state;
      this.#baseline = saved.baseline;
    };
  }
}
