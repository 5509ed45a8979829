/**
 * The listing indexes of `RedisStorage` and their protocol (ADR
 * `docs/decisions/2026-12-01-redis-session-index.md`): sorted sets `u:{user}`, `a:{agent}` and
 * `all`, score = the session's `updatedAt`, member = the session id. They live in other Cluster
 * slots than the sessions, so they are written as a separate step:
 *
 * 1. before a session write, its entries are raised to the write's time (`ZADD GT`, never
 *    lowered), so every existing session is in its indexes (the entry may be ahead of the
 *    session when the write then fails);
 * 2. after it, `reconcile` fixes what the write's reply shows to be wrong (a refused write, a
 *    wrong guess of the owner, a clock behind the stored `updatedAt`), and on a Cluster re-raises
 *    the entries of a session the write created (a concurrent delete may have removed them in
 *    the gap between the two steps); after a write that restored the session's times (an
 *    import), `place` moves its entries down to the restored `updatedAt`;
 * 3. listing repairs what is left: an entry whose score disagrees with its session is moved to
 *    the session's `updatedAt`; an entry of a missing session or of another owner is skipped,
 *    and removed once older than `INDEX_GRACE_MS` (a younger one may belong to a write still in
 *    flight).
 *
 * On a standalone server step 1 runs inside the write's script (`withIndexRaise`: one command,
 * atomic); on a Cluster they are two steps, because they live in different slots.
 *
 * Listing with a `metadata` filter reads the same index and drops the sessions that do not match
 * after reading their hashes (never another user's index); it keeps reading until the page is full,
 * so `nextCursor` (the last session returned) means another match exists. `prune` walks the same
 * indexes oldest first (`readAscending`).
 */
import type { ListSessionsResult, Logger, SessionInfo } from '@buddy/core';
import { describeValue } from '@buddy/core';
import {
  encodeSessionCursor,
  metadataMatches,
  type normalizeListSessionsInput,
  parseSessionRecord,
  type SessionCursor,
  toSessionInfo,
} from '@buddy/core/adapter-utils';
import {
  type BatchCall,
  callScript,
  type RedisConnection,
  type ScriptTarget,
} from './redis-connection.ts';
import type { RedisKeys } from './redis-keys.ts';
import { INDEX_REPAIR } from './redis-scripts.ts';
import { INDEX_GRACE_MS } from './redis-write-deadline.ts';

/** Owner and agent of a session, as stored (or, before the first write, as intended). */
export interface IndexOwners {
  userId: string | undefined;
  agentId: string | undefined;
}

/** What a write's reply showed about its session, for `reconcile`. */
export interface IndexTruth extends IndexOwners {
  /** The stored `updatedAt` as text; `undefined` when the session does not exist. */
  updatedAt: string | undefined;
}

/** One entry of a sorted set. */
export interface IndexEntry {
  member: string;
  score: number;
}

/** The hash fields listing needs: everything but the (possibly large) state and summary. */
const LISTING_FIELDS = [
  'name',
  'version',
  'run_count',
  'created_at',
  'updated_at',
  'user_id',
  'agent_id',
  'metadata',
] as const;
/** Sessions whose owner and agent this instance has seen, to aim index updates (bounded). */
const MAX_KNOWN_SESSIONS = 10_000;
/** How often one `listSessions` call may repair misplaced index entries and start over. */
const MAX_LIST_ATTEMPTS = 3;
/** Index entries read per request while stepping over entries with equal scores. */
const TIE_CHUNK = 100;
/** Index entries read per step of a listing with a metadata filter (most may not match). */
const FILTER_CHUNK = 100;

type Reply = (string | null)[];
type ListQuery = ReturnType<typeof normalizeListSessionsInput>;

/** Redis orders equal scores by the members' bytes, so ties are compared the same way here. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `WITHSCORES` replies: flat `[member, score, ...]` (RESP2 shape) or `[[member, score], ...]`. */
export function toEntries(reply: unknown): IndexEntry[] {
  const items = Array.isArray(reply) ? (reply as unknown[]) : [];
  const entries: IndexEntry[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const pair of items as [unknown, unknown][]) {
      entries.push({ member: String(pair[0]), score: Number(pair[1]) });
    }
    return entries;
  }
  for (let position = 0; position + 1 < items.length; position += 2) {
    entries.push({ member: String(items[position]), score: Number(items[position + 1]) });
  }
  return entries;
}

function toNumber(value: string | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

/** What listing found at one index entry. */
type Candidate =
  | { kind: 'session'; info: SessionInfo }
  | { kind: 'missing' }
  | { kind: 'corrupt'; error: unknown };

/**
 * The indexes of one `RedisStorage`: the write-side steps, the repairs, and listing.
 */
export class RedisSessionIndex {
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #ttlSeconds: number | undefined;
  readonly #logger: Logger;
  readonly #known = new Map<string, IndexOwners>();

  constructor(
    connection: RedisConnection,
    keys: RedisKeys,
    ttlSeconds: number | undefined,
    logger: Logger,
  ) {
    this.#connection = connection;
    this.#keys = keys;
    this.#ttlSeconds = ttlSeconds;
    this.#logger = logger;
  }

  // ------------------------------------------------------------------ owners seen

  remember(sessionId: string, owners: IndexOwners): void {
    this.#known.delete(sessionId);
    this.#known.set(sessionId, owners);
    if (this.#known.size > MAX_KNOWN_SESSIONS) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  forget(sessionId: string): void {
    this.#known.delete(sessionId);
  }

  /**
   * Which indexes a write will belong to, before the script has said. For a session this
   * instance has seen, its stored owner and agent; otherwise the caller's (for an existing
   * session the owner check makes a given `userId` right; a wrong guess costs one more round
   * trip to correct, in `reconcile`). A new session gets exactly the caller's.
   */
  guess(input: { sessionId: string; userId?: string; agentId?: string }): IndexOwners {
    const known = this.#known.get(input.sessionId);
    return {
      userId: input.userId ?? known?.userId,
      agentId: known === undefined ? input.agentId : known.agentId,
    };
  }

  /** The index keys a session with these owners belongs to. */
  keysFor(owners: IndexOwners): string[] {
    return [
      this.#keys.allIndex(),
      ...(owners.userId === undefined ? [] : [this.#keys.userIndex(owners.userId)]),
      ...(owners.agentId === undefined ? [] : [this.#keys.agentIndex(owners.agentId)]),
    ];
  }

  // ------------------------------------------------------------------ write side

  /**
   * Step 1 of a write as batch calls: raise the session's score in each of `keys` to `score`
   * (`ZADD GT`: never lowered, so out-of-order writers end at the highest); with a TTL, also drop
   * entries long expired and let idle indexes expire.
   */
  raiseCalls(keys: readonly string[], score: string, sessionId: string): BatchCall[] {
    const calls: BatchCall[] = keys.map(
      (key) => (target: ScriptTarget) => target.zadd(key, 'GT', score, sessionId),
    );
    const [, , trim, ttl] = this.raiseValues(score, sessionId);
    if (trim !== '') {
      for (const key of keys) {
        calls.push((target) => target.zremrangebyscore(key, '-inf', trim));
        calls.push((target) => target.expire(key, ttl));
      }
    }
    return calls;
  }

  /**
   * Step 1 as the values a `withIndexRaise` script takes after its own: the score, the member,
   * the lower bound of the entries to trim (exclusive; '' = none) and the keys' TTL ('0' = none).
   * With a TTL, entries older than twice the TTL are trimmed and the keys expire after twice the
   * TTL: a session whose last write is that old has expired even with some clock skew between
   * writers.
   */
  raiseValues(score: string, sessionId: string): [string, string, string, string] {
    if (this.#ttlSeconds === undefined) return [score, sessionId, '', '0'];
    const horizonSeconds = this.#ttlSeconds * 2;
    return [score, sessionId, `(${Number(score) - horizonSeconds * 1000}`, String(horizonSeconds)];
  }

  /** Step 1 on a Cluster: every raise, in parallel; rejects (translated) if any failed. */
  async raise(keys: readonly string[], score: string, sessionId: string): Promise<void> {
    await this.#connection.batchValues(
      this.raiseCalls(keys, score, sessionId),
      'indexWrite',
      sessionId,
    );
  }

  /**
   * Step 2: makes the indexes agree with what the write's reply showed, only where they do not
   * already (the normal turn has nothing to fix: no round trip). `touched` are the keys raised
   * to `triedScore` in step 1; on a Cluster, `created` re-raises the entries of a new session (one
   * more round trip, once per session).
   * A failed repair is left to listing.
   */
  async reconcile(
    sessionId: string,
    touched: readonly string[],
    triedScore: string,
    truth: IndexTruth,
    created = false,
  ): Promise<void> {
    const exists = truth.updatedAt !== undefined;
    const correct = exists ? this.keysFor(truth) : [];
    const calls: BatchCall[] = [];
    for (const key of touched) {
      if (!correct.includes(key)) {
        calls.push(this.#repairCall(key, triedScore, '', sessionId));
      } else if (Number(truth.updatedAt) !== Number(triedScore)) {
        calls.push(this.#repairCall(key, triedScore, truth.updatedAt ?? '', sessionId));
      } else if (created && this.#connection.isCluster) {
        calls.push((target) => target.zadd(key, 'GT', triedScore, sessionId));
      }
    }
    for (const key of correct) {
      if (!touched.includes(key)) {
        const score = truth.updatedAt ?? triedScore;
        calls.push((target) => target.zadd(key, 'GT', score, sessionId));
      }
    }
    if (calls.length === 0) return;
    await this.#connection.batch(calls, 'indexRepair', sessionId).catch(() => undefined);
  }

  /**
   * Step 2 of a write that restored its session's times (`upsertSession({ restoreTimes })`):
   * puts the session's entries in every index it belongs to exactly at its stored `updatedAt`,
   * lowering them (a plain `ZADD`: `GT` never lowers, and the restored time is usually far behind
   * the raise of step 1), and removes those raised under a wrong guess of the owner (as
   * `reconcile`). A concurrent write raising an entry in between may be lowered below its session:
   * listing moves such an entry back (I2) and `prune` judges by the stored time, so that is never
   * a loss. A failed step is left to listing, as in `reconcile`.
   */
  async place(
    sessionId: string,
    touched: readonly string[],
    triedScore: string,
    truth: IndexTruth,
  ): Promise<void> {
    const score = truth.updatedAt;
    if (score === undefined) return this.reconcile(sessionId, touched, triedScore, truth);
    const correct = this.keysFor(truth);
    const calls: BatchCall[] = correct.map(
      (key) => (target: ScriptTarget) => target.zadd(key, score, sessionId),
    );
    for (const key of touched) {
      if (!correct.includes(key)) calls.push(this.#repairCall(key, triedScore, '', sessionId));
    }
    await this.#connection.batch(calls, 'indexRepair', sessionId).catch(() => undefined);
  }

  /**
   * Removes deleted sessions from their indexes: only entries still at the deleted score (an
   * entry raised since belongs to a write that may recreate the session). `skipKey` is handled
   * by the caller.
   */
  async dropDeleted(
    dropped: readonly { sessionId: string; truth: IndexTruth }[],
    skipKey?: string,
  ): Promise<void> {
    const calls: BatchCall[] = [];
    for (const { sessionId, truth } of dropped) {
      if (truth.updatedAt === undefined) continue;
      for (const key of this.keysFor(truth)) {
        if (key === skipKey) continue;
        calls.push(this.#repairCall(key, truth.updatedAt, '', sessionId));
      }
    }
    if (calls.length === 0) return;
    await this.#connection.batch(calls, 'indexRepair').catch(() => undefined);
  }

  /** Removes `entries` from `key`, each only while it still has the score it was read with. */
  async removeEntries(key: string, entries: readonly IndexEntry[]): Promise<void> {
    const calls = entries.map((entry) =>
      this.#repairCall(key, String(entry.score), '', entry.member),
    );
    if (calls.length === 0) return;
    await this.#connection.batchValues(calls, 'indexRepair');
  }

  /**
   * Moves each entry to its `score` (or removes it when `score` is ''), each only while it still
   * has the score it was read with. A failed repair is left to listing.
   */
  async repairEntries(
    key: string,
    repairs: readonly { entry: IndexEntry; score: string }[],
  ): Promise<void> {
    if (repairs.length === 0) return;
    await this.#connection
      .batch(
        repairs.map(({ entry, score }) =>
          this.#repairCall(key, String(entry.score), score, entry.member),
        ),
        'indexRepair',
      )
      .catch(() => undefined);
  }

  #repairCall(key: string, expected: string, score: string, sessionId: string): BatchCall {
    return (target) => callScript(target, INDEX_REPAIR, [key], [expected, score, sessionId]);
  }

  // ------------------------------------------------------------------ listing

  /** A page of `listSessions`, repairing the index on the way (see the module header). */
  async list(query: ListQuery): Promise<ListSessionsResult> {
    for (let attempt = 1; ; attempt++) {
      const page = await this.#listPage(query, attempt >= MAX_LIST_ATTEMPTS);
      if (page !== undefined) return page;
    }
  }

  /** The listing view of one session from `LISTING_FIELDS` values. */
  #candidate(sessionId: string, result: { value: unknown; error: unknown }): Candidate {
    if (result.error !== undefined) return { kind: 'corrupt', error: result.error };
    const values = (result.value ?? []) as Reply;
    if (values.every((value) => value === null || value === undefined)) return { kind: 'missing' };
    const [name, version, runCount, createdAt, updatedAt, userId, agentId, metadata] = values;
    try {
      const record = parseSessionRecord(
        {
          sessionId,
          ...(agentId == null ? {} : { agentId }),
          ...(userId == null ? {} : { userId }),
          ...(name == null ? {} : { sessionName: name }),
          ...(metadata == null ? {} : { metadata: JSON.parse(metadata) as unknown }),
          sessionState: {},
          createdAt: toNumber(createdAt),
          updatedAt: toNumber(updatedAt),
          version: toNumber(version),
          runCount: toNumber(runCount),
        },
        sessionId,
      );
      return { kind: 'session', info: toSessionInfo(record) };
    } catch (error) {
      return { kind: 'corrupt', error };
    }
  }

  /**
   * One attempt at a page. Walks the index from the cursor in (score DESC, member DESC) order,
   * reads the candidates' hashes (one batch per step), skips entries of missing, foreign or
   * corrupt sessions (reporting corrupt ones), removes old stale entries, and moves misplaced ones
   * to their true score. When it moved any, the page is discarded and the caller starts over (on
   * the last attempt misplaced entries are listed where they stand).
   */
  async #listPage(
    query: ListQuery,
    isLastAttempt: boolean,
  ): Promise<ListSessionsResult | undefined> {
    const { userId, agentId, limit, metadata } = query;
    const indexKey =
      userId !== undefined
        ? this.#keys.userIndex(userId)
        : agentId !== undefined
          ? this.#keys.agentIndex(agentId)
          : this.#keys.allIndex();
    const found: { info: SessionInfo; score: number }[] = [];
    const repairs: { entry: IndexEntry; score: string }[] = [];
    const staleBefore = Date.now() - INDEX_GRACE_MS;
    let moved = false;
    let position: IndexEntry | undefined =
      query.cursor === undefined
        ? undefined
        : { score: query.cursor.updatedAt, member: query.cursor.sessionId };
    while (found.length <= limit && !moved) {
      const missing = limit + 1 - found.length;
      // With a filter most entries may not match: read more per step than the page still needs.
      const wanted = metadata === undefined ? missing : Math.max(missing, FILTER_CHUNK);
      const batch = await this.#readIndex(indexKey, position, wanted);
      if (batch.length === 0) break;
      const replies = await this.#connection.batch(
        batch.map(
          (entry) => (target: ScriptTarget) =>
            target.hmget(this.#keys.session(entry.member), ...LISTING_FIELDS),
        ),
        'listSessions',
      );
      for (const [offset, entry] of batch.entries()) {
        position = entry;
        const candidate = this.#candidate(
          entry.member,
          replies[offset] ?? { value: [], error: undefined },
        );
        if (candidate.kind === 'corrupt') {
          this.#logger.warn(
            `RedisStorage: listing skipped session ${describeValue(entry.member)}: it is corrupt`,
            { sessionId: entry.member, error: candidate.error },
          );
          continue;
        }
        const info = candidate.kind === 'session' ? candidate.info : undefined;
        const isStale =
          info === undefined ||
          (userId !== undefined && info.userId !== userId) ||
          (userId === undefined && agentId !== undefined && info.agentId !== agentId);
        if (isStale || info === undefined) {
          if (entry.score < staleBefore) repairs.push({ entry, score: '' });
          continue;
        }
        if (agentId !== undefined && info.agentId !== agentId) continue;
        if (!metadataMatches(info.metadata, metadata)) {
          // Not listed, so its place does not matter for this page; still put it right.
          if (info.updatedAt !== entry.score) {
            repairs.push({ entry, score: String(info.updatedAt) });
          }
          continue;
        }
        if (info.updatedAt !== entry.score) {
          repairs.push({ entry, score: String(info.updatedAt) });
          if (!isLastAttempt) {
            moved = true;
            continue;
          }
        }
        found.push({ info, score: entry.score });
        if (found.length > limit) break;
      }
      if (batch.length < wanted) break;
    }
    if (repairs.length > 0) {
      await this.#connection.batchValues(
        repairs.map(({ entry, score }) =>
          this.#repairCall(indexKey, String(entry.score), score, entry.member),
        ),
        'listSessions',
      );
    }
    if (moved) return undefined;
    const sessions = found.slice(0, limit);
    const last = sessions.at(-1);
    if (found.length <= limit || last === undefined)
      return { sessions: sessions.map((item) => item.info) };
    const cursor: SessionCursor = { updatedAt: last.score, sessionId: last.info.sessionId };
    return { sessions: sessions.map((item) => item.info), nextCursor: encodeSessionCursor(cursor) };
  }

  /**
   * Up to `count` entries of `key` strictly after `position` in (score ASC, member ASC) order, with
   * scores below `below` when given: the walk of `prune`, oldest first. Keyset paging, so entries
   * removed or moved meanwhile never make it skip one that stays; an entry moved past the position
   * is met again.
   */
  async readAscending(
    key: string,
    position: IndexEntry | undefined,
    count: number,
    below?: number,
  ): Promise<IndexEntry[]> {
    const connection = this.#connection;
    const max = below === undefined ? '+inf' : `(${below}`;
    if (position === undefined) {
      const reply = await connection.run('prune', (client) =>
        client.zrangebyscore(key, '-inf', max, 'WITHSCORES', 'LIMIT', 0, count),
      );
      return toEntries(reply);
    }
    const score = String(position.score);
    const [tiesReply, higherReply] = await connection.batchValues(
      [
        (target) => target.zrangebyscore(key, score, score, 'LIMIT', 0, TIE_CHUNK),
        (target) => target.zrangebyscore(key, `(${score}`, max, 'WITHSCORES', 'LIMIT', 0, count),
      ],
      'prune',
    );
    let chunk = (tiesReply as string[]) ?? [];
    const ties: IndexEntry[] = [];
    for (let offset = 0; ; ) {
      for (const member of chunk) {
        if (compareBytes(member, position.member) > 0) ties.push({ member, score: position.score });
      }
      if (chunk.length < TIE_CHUNK || ties.length >= count) break;
      offset += chunk.length;
      const from = offset;
      chunk = await connection.run('prune', (client) =>
        client.zrangebyscore(key, score, score, 'LIMIT', from, TIE_CHUNK),
      );
    }
    return [...ties, ...toEntries(higherReply)].slice(0, count);
  }

  /**
   * Up to `count` index entries strictly after `position` in (score DESC, member DESC) order.
   * Entries with the cursor's own score are read separately and filtered by member, because a
   * score range alone cannot start in the middle of a run of equal scores.
   */
  async #readIndex(
    key: string,
    position: IndexEntry | undefined,
    count: number,
  ): Promise<IndexEntry[]> {
    const connection = this.#connection;
    if (position === undefined) {
      const reply = await connection.run('listSessions', (client) =>
        client.zrevrangebyscore(key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, count),
      );
      return toEntries(reply);
    }
    const score = String(position.score);
    const [tiesReply, lowerReply] = await connection.batchValues(
      [
        (target) => target.zrevrangebyscore(key, score, score, 'LIMIT', 0, TIE_CHUNK),
        (target) =>
          target.zrevrangebyscore(key, `(${score}`, '-inf', 'WITHSCORES', 'LIMIT', 0, count),
      ],
      'listSessions',
    );
    let chunk = (tiesReply as string[]) ?? [];
    const ties: IndexEntry[] = [];
    for (let offset = 0; ; ) {
      for (const member of chunk) {
        if (compareBytes(member, position.member) < 0) ties.push({ member, score: position.score });
      }
      if (chunk.length < TIE_CHUNK || ties.length >= count) break;
      offset += chunk.length;
      const from = offset;
      chunk = await connection.run('listSessions', (client) =>
        client.zrevrangebyscore(key, score, score, 'LIMIT', from, TIE_CHUNK),
      );
    }
    return [...ties, ...toEntries(lowerReply)].slice(0, count);
  }
}
