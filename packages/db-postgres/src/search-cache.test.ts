/**
 * The search cache of `PostgresMemoryDb` against a real PostgreSQL: a cached db sees, at its very
 * next search, what another OS process wrote (an upsert, a new embedding, an embedding dropped
 * or of another length, a deleted memory, a deleted user), in one round trip; concurrent writers
 * on two other pools interleaved with concurrent searches never leave it missing or keeping a
 * row; eviction under a small `maxBytes` and users too large for it still answer exactly; ties
 * order like `COLLATE "C"`; the option is validated. Every answer is compared with a db that
 * ranks in SQL (`searchCache: false`).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  BuddyError,
  type ScoredMemory,
  type SearchMemoriesInput,
  type UpsertMemoryInput,
} from '@buddy/core';
import { uniqueId } from '@buddy/testkit/storage';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { countingPool, POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';
import { decodeFloat8Array, SearchCache } from './internal/search-cache.ts';
import { PostgresMemoryDb, type PostgresMemoryDbOptions } from './postgres-memory-db.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('cache');
const packageDirectory = fileURLToPath(new URL('..', import.meta.url));
let tables = 0;

/** Another OS process with its own `PostgresMemoryDb` (and pool), driven one command at a time. */
class WriterProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #waiting: ((line: string) => void)[] = [];
  #stderr = '';

  constructor(tableName: string) {
    this.#child = spawn(
      process.execPath,
      [
        '--conditions=@buddy/source',
        '--import',
        'tsx',
        fileURLToPath(new URL('../test/children/memory-writer.ts', import.meta.url)),
        JSON.stringify({ connectionString: POSTGRES_URL, schema, tableName }),
      ],
      { cwd: packageDirectory, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#lines = createInterface({ input: this.#child.stdout });
    this.#lines.on('line', (line) => this.#waiting.shift()?.(line));
    this.#child.on('exit', (code) => {
      for (const waiter of this.#waiting.splice(0)) waiter(`error exited ${code}: ${this.#stderr}`);
    });
  }

  /** Runs one command in the child; resolves with its JSON result, rejects with its error. */
  send(command: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#waiting.push((line) => {
        const [status, , ...rest] = line.split(' ');
        const text = rest.join(' ');
        if (status === 'ok') resolve(text === 'closed' ? undefined : JSON.parse(text));
        else reject(new Error(`writer process: ${line}`));
      });
      this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  }

  upsert(memory: UpsertMemoryInput): Promise<unknown> {
    return this.send({ op: 'upsert', memory });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    await this.send({ op: 'close' }).catch(() => {});
    this.#child.stdin.end();
    await exited;
    this.#lines.close();
  }
}

const opened: { close(): Promise<void> }[] = [];

function track<T extends { close(): Promise<void> }>(value: T): T {
  opened.push(value);
  return value;
}

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

function newTable(): string {
  tables += 1;
  return `cache${tables}`;
}

function open(tableName: string, options: PostgresMemoryDbOptions = {}): PostgresMemoryDb {
  return track(
    new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema, tableName, ...options }),
  );
}

/** Deterministic numbers in [-1, 1) (a linear congruential generator). */
function numbers(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (state / 2_147_483_648) * 2 - 1;
  };
}

const ids = (found: ScoredMemory[]) => found.map((memory) => memory.id);

describe.skipIf(!hasPostgres)('PostgresMemoryDb search cache', () => {
  afterAll(async () => {
    // Nothing to do: the file's schema (every table of these tests) is dropped by postgresTestFile.
  });

  it('sees each write of another process at its next search, in one round trip', async () => {
    const tableName = newTable();
    const counting = countingPool({ max: 2 });
    track({ close: () => counting.pool.end() });
    const cached = track(new PostgresMemoryDb({ pool: counting.pool, schema, tableName }));
    const sql = open(tableName, { searchCache: false });
    const writer = track(new WriterProcess(tableName));
    const userId = uniqueId('reader');
    const both = async (input: SearchMemoriesInput) => {
      counting.reset();
      const found = await cached.searchMemories(input);
      // One statement, and not the SQL ranking: the cache answered.
      expect(counting.statements).toHaveLength(1);
      expect(counting.statements[0]).not.toContain('sum(pair.a * pair.b)');
      expect(found).toEqual(await sql.searchMemories(input));
      return found;
    };
    const near = { userId, embedding: [1, 0, 0], limit: 10 };

    await writer.upsert({ id: 'a', userId, memory: 'a', embedding: [1, 0, 0], createdAt: 1 });
    await writer.upsert({ id: 'b', userId, memory: 'b', embedding: [0, 1, 0], createdAt: 2 });
    await cached.ready();
    expect(ids(await both(near))).toEqual(['a', 'b']);
    expect(ids(await both(near))).toEqual(['a', 'b']);

    // A new memory.
    await writer.upsert({ id: 'c', userId, memory: 'c', embedding: [1, 0.5, 0], createdAt: 3 });
    expect(ids(await both(near))).toEqual(['a', 'c', 'b']);

    // A new embedding: ranked by the new vector.
    await writer.upsert({ id: 'a', userId, memory: 'a moved', embedding: [0, 0, 1], createdAt: 1 });
    const moved = await both(near);
    expect(ids(moved)).toEqual(['c', 'a', 'b']);
    expect(moved[1]).toMatchObject({ memory: 'a moved', score: 0 });
    expect(ids(await both({ ...near, embedding: [0, 0, 5] }))).toEqual(['a', 'b', 'c']);

    // An upsert without embedding drops it; one of another length leaves this length's results.
    await writer.upsert({ id: 'b', userId, memory: 'b, text changed', createdAt: 2 });
    expect(ids(await both(near))).toEqual(['c', 'a']);
    await writer.upsert({ id: 'c', userId, memory: 'c', embedding: [1, 0, 0, 0], createdAt: 3 });
    expect(ids(await both(near))).toEqual(['a']);
    expect(ids(await both({ ...near, embedding: [1, 0, 0, 0] }))).toEqual(['c']);

    // A deleted memory is never returned again.
    await writer.upsert({ id: 'd', userId, memory: 'd', embedding: [1, 0, 0], createdAt: 4 });
    expect(ids(await both(near))).toEqual(['d', 'a']);
    expect(await writer.send({ op: 'delete', id: 'd', userId })).toBe(true);
    expect(ids(await both(near))).toEqual(['a']);
    expect(ids(await both(near))).toEqual(['a']);

    // A deleted user: nothing comes back, and what is written afterwards is found alone.
    expect(await writer.send({ op: 'deleteUserData', userId })).toBe(3);
    expect(await both(near)).toEqual([]);
    expect(await both({ ...near, embedding: [1, 0, 0, 0] })).toEqual([]);
    await writer.upsert({ id: 'e', userId, memory: 'e', embedding: [0, 1, 0], createdAt: 5 });
    expect(ids(await both(near))).toEqual(['e']);
    expect(
      await admin.query(`SELECT user_id FROM "${schema}"."${tableName}_revisions"`),
    ).toMatchObject({
      rowCount: 1,
    });
    expect(await writer.send({ op: 'deleteUserData', userId })).toBe(1);
    // deleteUserData leaves nothing of the user behind, revision row included.
    expect(
      (
        await admin.query(`SELECT 1 FROM "${schema}"."${tableName}_revisions" WHERE user_id = $1`, [
          userId,
        ])
      ).rowCount,
    ).toBe(0);
    expect(await both(near)).toEqual([]);
  }, 60_000);

  it('concurrent writers on two pools interleaved with concurrent searches leave the cache exact', async () => {
    const tableName = newTable();
    const cached = open(tableName);
    const sql = open(tableName, { searchCache: false });
    const writers = [
      open(tableName, { searchCache: false }),
      open(tableName, { searchCache: false }),
    ];
    const userId = uniqueId('busy');
    const next = numbers(7);
    const vector = () => Array.from({ length: 8 }, () => next());
    const search = (db: PostgresMemoryDb, embedding: number[]) =>
      db.searchMemories({ userId, embedding, limit: 1000 });
    for (let round = 0; round < 6; round++) {
      const work: Promise<unknown>[] = [];
      for (const [index, writer] of writers.entries()) {
        work.push(
          (async () => {
            for (let step = 0; step < 25; step++) {
              const id = `m${Math.floor(((next() + 1) / 2) * 40)}`;
              const choice = next();
              if (choice < -0.6) await writer.deleteMemory({ id, userId });
              else if (choice < -0.5)
                await writer.upsertMemory({ id, userId, memory: `${id} plain` });
              else
                await writer.upsertMemory({
                  id,
                  userId,
                  memory: `${id} by ${index} in ${round}`,
                  embedding: vector(),
                });
            }
            if (round === 3 && index === 0) await writer.deleteUserData(userId);
          })(),
        );
      }
      for (let reader = 0; reader < 3; reader++) {
        work.push(
          (async () => {
            for (let step = 0; step < 15; step++) await search(cached, vector());
          })(),
        );
      }
      await Promise.all(work);
      // After the dust settles, the cached db answers exactly like SQL and like a fresh db.
      const fresh = open(tableName);
      for (let check = 0; check < 3; check++) {
        const embedding = vector();
        const expected = await search(sql, embedding);
        expect(await search(cached, embedding)).toEqual(expected);
        expect(await search(fresh, embedding)).toEqual(expected);
      }
    }
  }, 120_000);

  it('a search whose reply arrives after a newer one never rolls the cache back', async () => {
    // A pool whose next cache statement runs at the server at once but whose reply is handed to
    // the db only when the test says so: a slow reply overtaken by a later search.
    let armed = false;
    let executed: () => void = () => {};
    let release: () => void = () => {};
    const replied = new Promise<void>((resolve) => {
      executed = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    class SlowReplyClient extends pg.Client {
      // biome-ignore lint/suspicious/noExplicitAny: node-postgres' query() has many overloads
      override query(...args: any[]): any {
        // biome-ignore lint/suspicious/noExplicitAny: forwarding the same overload
        const result = (super.query as (...inner: any[]) => any)(...args);
        const text = (args[0] as { text?: string } | undefined)?.text;
        if (!armed || typeof text !== 'string' || !text.includes('array_send')) return result;
        armed = false;
        return (result as Promise<unknown>).then(async (value) => {
          executed();
          await released;
          return value;
        });
      }
    }
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 3, Client: SlowReplyClient });
    pool.on('error', () => {});
    track({ close: () => pool.end() });
    const tableName = newTable();
    const cached = track(new PostgresMemoryDb({ pool, schema, tableName }));
    const sql = open(tableName, { searchCache: false });
    const writer = open(tableName, { searchCache: false });
    const userId = uniqueId('overtaken');
    const input = { userId, embedding: [1, 0, 0], limit: 10 };
    await writer.upsertMemory({ id: 'x', userId, memory: 'v1', embedding: [1, 0, 0] });
    await writer.upsertMemory({ id: 'y', userId, memory: 'y', embedding: [0, 1, 0] });
    expect(await cached.searchMemories(input)).toEqual(await sql.searchMemories(input));
    await writer.upsertMemory({ id: 'x', userId, memory: 'v2', embedding: [0.5, 0.5, 0] });
    armed = true;
    const slow = cached.searchMemories(input);
    await replied;
    // Written after the slow search's snapshot, read by a later search that finishes first.
    await writer.upsertMemory({ id: 'x', userId, memory: 'v3', embedding: [0, 0, 1] });
    const fast = await cached.searchMemories(input);
    expect(fast).toEqual(await sql.searchMemories(input));
    release();
    expect((await slow).map((memory) => memory.memory)).not.toContain('v1');
    // The late reply (x at v2) must not have replaced the newer x (v3) in the cache.
    expect(await cached.searchMemories(input)).toEqual(await sql.searchMemories(input));
    expect((await cached.searchMemories(input)).find((memory) => memory.id === 'x')).toMatchObject({
      memory: 'v3',
      score: 0,
    });
  });

  it('after many rows changed at once (more than the spare ranks kept), ranks the user again', async () => {
    const tableName = newTable();
    const cached = open(tableName);
    const sql = open(tableName, { searchCache: false });
    const writer = open(tableName, { searchCache: false });
    const userId = uniqueId('many');
    // Scores against [1, 0] fall with the index: m0 is best.
    for (let index = 0; index < 30; index++) {
      await writer.upsertMemory({
        id: `m${index}`,
        userId,
        memory: `m${index}`,
        embedding: [30 - index, 1],
      });
    }
    const input = { userId, embedding: [1, 0], limit: 3 };
    expect(ids(await cached.searchMemories(input))).toEqual(['m0', 'm1', 'm2']);
    // Twelve of the best now score 0: the best three are rows that did not change.
    for (let index = 0; index < 12; index++) {
      await writer.upsertMemory({
        id: `m${index}`,
        userId,
        memory: `m${index}`,
        embedding: [0, 1],
      });
    }
    const found = await cached.searchMemories(input);
    expect(ids(found)).toEqual(['m12', 'm13', 'm14']);
    expect(found).toEqual(await sql.searchMemories(input));
  });

  it('writes that change nothing (refused upserts, deletes of missing rows) leave the revisions alone', async () => {
    const tableName = newTable();
    const db = open(tableName);
    const alice = uniqueId('alice');
    const mallory = uniqueId('mallory');
    await db.upsertMemory({ id: `${alice}-1`, userId: alice, memory: 'tea', embedding: [1, 0] });
    const revisions = () =>
      admin.query(
        `SELECT user_id, rev, epoch FROM "${schema}"."${tableName}_revisions" ORDER BY user_id`,
      );
    const before = (await revisions()).rows;
    expect(before).toHaveLength(1);
    let caught: unknown;
    try {
      await db.upsertMemory({ id: `${alice}-1`, userId: mallory, memory: 'coffee' });
    } catch (error) {
      caught = error;
    }
    expect(BuddyError.is(caught, 'MEMORY_OWNERSHIP'), String(caught)).toBe(true);
    expect(await db.deleteMemory({ id: `${alice}-1`, userId: mallory })).toBe(false);
    expect(await db.deleteMemory({ id: `${alice}-missing`, userId: alice })).toBe(false);
    // No row for mallory, and alice's epoch (a full read for every cache) did not change.
    expect((await revisions()).rows).toEqual(before);
    expect(await db.searchMemories({ userId: alice, embedding: [1, 0], limit: 5 })).toMatchObject([
      { memory: 'tea', score: 1 },
    ]);
  });

  it('answers exactly when users are evicted under a small maxBytes, and ranks users that do not fit in SQL', async () => {
    const tableName = newTable();
    const writer = open(tableName, { searchCache: false });
    const sql = open(tableName, { searchCache: false });
    const counting = countingPool({ max: 2 });
    track({ close: () => counting.pool.end() });
    // About 40 memories of 16 dimensions (~300 bytes each) fit: one user of 30 at a time.
    const cached = track(
      new PostgresMemoryDb({
        pool: counting.pool,
        schema,
        tableName,
        searchCache: { maxBytes: 12_000 },
      }),
    );
    const next = numbers(11);
    const vector = () => Array.from({ length: 16 }, () => next());
    const users = ['u1', 'u2', 'u3'].map((name) => uniqueId(name));
    for (const userId of users) {
      for (let index = 0; index < 30; index++) {
        await writer.upsertMemory({
          id: `${userId}-${index}`,
          userId,
          memory: `fact ${index}`,
          embedding: vector(),
        });
      }
    }
    const big = uniqueId('big');
    for (let index = 0; index < 200; index++) {
      await writer.upsertMemory({
        id: `${big}-${index}`,
        userId: big,
        memory: `fact ${index}`,
        embedding: vector(),
      });
    }
    for (let round = 0; round < 4; round++) {
      for (const userId of [...users, big]) {
        const embedding = vector();
        const expected = await sql.searchMemories({ userId, embedding, limit: 7 });
        expect(await cached.searchMemories({ userId, embedding, limit: 7 })).toEqual(expected);
      }
      // A write between rounds, to an evicted user and to the big one.
      await writer.upsertMemory({
        id: `${users[0]}-0`,
        userId: users[0] as string,
        memory: 'new',
        embedding: vector(),
      });
      await writer.deleteMemory({ id: `${big}-${round}`, userId: big });
    }
    // The big user is remembered as too large: one statement, the SQL ranking.
    counting.reset();
    const embedding = vector();
    expect(await cached.searchMemories({ userId: big, embedding, limit: 5 })).toEqual(
      await sql.searchMemories({ userId: big, embedding, limit: 5 }),
    );
    expect(counting.statements).toHaveLength(1);
    expect(counting.statements[0]).toContain('sum(pair.a * pair.b)');
  }, 60_000);

  it('orders ties by id like COLLATE "C" (code points), on both paths', async () => {
    const tableName = newTable();
    const cached = open(tableName);
    const sql = open(tableName, { searchCache: false });
    const userId = uniqueId('ties');
    const names = ['b', 'a', '\ue000', '\u{1f600}', 'ab', 'A', '\u00e9', '\uffff', '\u{10000}'];
    for (const id of names)
      await cached.upsertMemory({ id: `${userId}${id}`, userId, memory: id, embedding: [1, 1] });
    const input = { userId, embedding: [1, 1], limit: 20 };
    const expected = await sql.searchMemories(input);
    expect(ids(expected)).toEqual(
      [...names]
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .map((id) => `${userId}${id}`),
    );
    expect(await cached.searchMemories(input)).toEqual(expected);
  });

  it('returns copies: changing a result does not change the next search', async () => {
    const db = open(newTable());
    const userId = uniqueId('copies');
    await db.upsertMemory({
      id: `${userId}-1`,
      userId,
      memory: 'tea',
      topics: ['drinks'],
      embedding: [1, 0],
    });
    const [first] = await db.searchMemories({ userId, embedding: [1, 0], limit: 1 });
    first?.topics?.push('mutated');
    (first as { memory: string }).memory = 'changed';
    expect(await db.searchMemories({ userId, embedding: [1, 0], limit: 1 })).toMatchObject([
      { memory: 'tea', topics: ['drinks'] },
    ]);
  });

  it('validates searchCache: false, {} and { maxBytes } are accepted, anything else is INVALID_ARGUMENT naming it', async () => {
    const goods: (false | { maxBytes?: number })[] = [
      false,
      {},
      { maxBytes: 1 },
      { maxBytes: 1024 ** 3 },
    ];
    for (const good of goods) {
      const db = new PostgresMemoryDb({
        connectionString: POSTGRES_URL,
        schema,
        searchCache: good,
      });
      await db.close();
    }
    const bad: [unknown, string][] = [
      [true, 'true'],
      ['yes', '"yes"'],
      [null, 'null'],
      [[], '[]'],
      [{ maxBytes: 0 }, '0'],
      [{ maxBytes: 1.5 }, '1.5'],
      [{ maxBytes: '64' }, '"64"'],
      [{ maxBytes: Number.NaN }, 'NaN'],
      [{ maxbytes: 10 }, 'maxbytes'],
    ];
    for (const [value, named] of bad) {
      let caught: unknown;
      try {
        new PostgresMemoryDb({ connectionString: POSTGRES_URL, searchCache: value as never });
      } catch (error) {
        caught = error;
      }
      expect(BuddyError.is(caught, 'INVALID_ARGUMENT'), String(caught)).toBe(true);
      expect((caught as Error).message).toContain('searchCache');
      expect((caught as Error).message).toContain(named);
    }
  });
});

describe.skipIf(!hasPostgres)('search cache internals', () => {
  it('decodes array_send(float8[]) exactly, and refuses anything else as STORAGE_CORRUPT naming the memory', async () => {
    const values = [0, 1, -1.5, Math.PI, 1e-300, -1e300, Number.MIN_VALUE, 0.1 + 0.2];
    const result = await admin.query<{ bytes: Buffer; two: Buffer; nulls: Buffer; ints: Buffer }>(
      `SELECT array_send($1::double precision[]) AS bytes,
         array_send(ARRAY[[1, 2], [3, 4]]::double precision[]) AS two,
         array_send(ARRAY[1, NULL]::double precision[]) AS nulls,
         array_send(ARRAY[1, 2]::integer[]) AS ints`,
      [values],
    );
    const row = result.rows[0] as { bytes: Buffer; two: Buffer; nulls: Buffer; ints: Buffer };
    const decoded = decodeFloat8Array(row.bytes, values.length, 'm');
    expect([...decoded].map((value) => (Object.is(value, -0) ? '-0' : value))).toEqual(
      values.map((value) => (Object.is(value, -0) ? '-0' : value)),
    );
    for (const [bytes, dimensions] of [
      [row.bytes, values.length - 1],
      [row.two, 4],
      [row.nulls, 2],
      [row.ints, 2],
    ] as const) {
      let caught: unknown;
      try {
        decodeFloat8Array(bytes, dimensions, 'broken-memory');
      } catch (error) {
        caught = error;
      }
      expect(BuddyError.is(caught, 'STORAGE_CORRUPT'), String(caught)).toBe(true);
      expect((caught as Error).message).toContain('broken-memory');
    }
  });

  it('evicts the least recently used entries by bytes and never holds more than maxBytes', () => {
    const cache = new SearchCache(1_000);
    const entry = (userId: string, bytes: number) => ({
      key: SearchCache.key(userId, 4),
      userId,
      dimensions: 4,
      rev: 1,
      epoch: 1,
      version: 0,
      bytes,
      memories: new Map(),
    });
    expect(cache.store(entry('a', 400))).toBe(true);
    expect(cache.store(entry('b', 400))).toBe(true);
    cache.get(SearchCache.key('a', 4));
    expect(cache.store(entry('c', 400))).toBe(true);
    // b was the least recently used.
    expect(cache.peek(SearchCache.key('b', 4))).toBeUndefined();
    expect(cache.peek(SearchCache.key('a', 4))).toBeDefined();
    expect(cache.bytes).toBe(800);
    expect(cache.store(entry('huge', 1_001))).toBe(false);
    expect(cache.isOversize(SearchCache.key('huge', 4))).toBe(true);
    const grown = cache.peek(SearchCache.key('c', 4));
    if (grown === undefined) throw new Error('c missing');
    grown.bytes += 300;
    cache.resized(grown, 300);
    expect(cache.bytes).toBeLessThanOrEqual(1_000);
    expect(cache.peek(SearchCache.key('a', 4))).toBeUndefined();
    cache.deleteUser('c');
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });
});
