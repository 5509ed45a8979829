/**
 * Every public method of `SqliteStorage` and `SqliteMemoryDb` checks its input with core's shared
 * validators before it runs a single SQL statement (SPEC §10.3). The validators are wrapped so
 * that each call is recorded, in one sequence with the statements the connection runs: a method
 * that skipped its validator, or touched the database first, fails here.
 */
import { makeMemory, makeRun } from '@buddy/testkit/storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteMemoryDb } from './sqlite-memory-db.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const recorded = vi.hoisted(() => ({ events: [] as { kind: string; argument?: unknown }[] }));

vi.mock('@buddy/core/adapter-utils', async (importOriginal) => {
  const actual = await importOriginal<Record<string, unknown>>();
  const wrapped: Record<string, unknown> = { ...actual };
  for (const name of [
    'assertAppendRunInput',
    'assertUpsertSessionInput',
    'assertLeaseInput',
    'assertId',
    'normalizeSessionOptions',
    'normalizeGetRunsInput',
    'normalizeListSessionsInput',
    'normalizeUpsertMemoryInput',
    'normalizeMemoryIdInput',
    'normalizeUserIdInput',
    'normalizeReadMemoriesInput',
    'normalizePruneInput',
    'normalizeSearchMemoriesInput',
    'normalizeMemoryEmbedding',
  ]) {
    const validator = actual[name] as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]) => {
      recorded.events.push({ kind: name, argument: args[0] });
      return validator(...args);
    };
  }
  return wrapped;
});

describe('shared validators run first on every SQLite method', () => {
  let db: Database.Database;
  let storage: SqliteStorage;
  let memoryDb: SqliteMemoryDb;
  let tracing = false;

  beforeEach(async () => {
    db = new Database(':memory:', {
      verbose: (sql) => {
        if (tracing) recorded.events.push({ kind: 'sql', argument: String(sql) });
      },
    });
    storage = new SqliteStorage({ database: db });
    memoryDb = new SqliteMemoryDb({ database: db });
    await storage.appendRun({
      sessionId: 's',
      userId: 'dana',
      run: makeRun('s', 'a'),
      sessionState: {},
    });
    tracing = true;
    recorded.events.length = 0;
  });

  afterEach(async () => {
    tracing = false;
    await storage.close();
    await memoryDb.close();
    db.close();
  });

  const sessionOptions = { userId: 'dana' };
  const appendInput = {
    sessionId: 's',
    userId: 'dana',
    run: makeRun('s', 'b'),
    sessionState: { n: 1 },
  };
  const upsertInput = { sessionId: 's', userId: 'dana', sessionName: 'Renamed' };
  const leaseInput = { sessionId: 's', ttlMs: 1000, waitMs: 0 };
  const runsInput = { sessionId: 's', last: 1 };
  const listInput = { userId: 'dana' };
  const memory = makeMemory('dana', 'likes tea');
  const memoryId = { id: memory.id, userId: 'dana' };
  const userInput = { userId: 'dana' };
  const readInput = { userId: 'dana', limit: 5 };
  const missingInput = { userId: 'dana', missingEmbedding: 3 };
  const pruneInput = { keepLastRuns: 1, userId: 'dana' };
  const embedded = { ...makeMemory('dana', 'likes coffee'), embedding: [1, 0, 0] };
  const searchInput = { userId: 'dana', embedding: [1, 0, 0], limit: 3 };

  const cases: [string, () => Promise<unknown>, string, unknown][] = [
    ['getSession', () => storage.getSession('s', sessionOptions), 'assertId', 's'],
    [
      'upsertSession',
      () => storage.upsertSession(upsertInput),
      'assertUpsertSessionInput',
      upsertInput,
    ],
    ['appendRun', () => storage.appendRun(appendInput), 'assertAppendRunInput', appendInput],
    ['getRuns', () => storage.getRuns(runsInput), 'normalizeGetRunsInput', runsInput],
    [
      'acquireLease',
      async () => (await storage.acquireLease(leaseInput)).release(),
      'assertLeaseInput',
      leaseInput,
    ],
    [
      'listSessions',
      () => storage.listSessions(listInput),
      'normalizeListSessionsInput',
      listInput,
    ],
    ['deleteSession', () => storage.deleteSession('s', sessionOptions), 'assertId', 's'],
    ['storage.deleteUserData', () => storage.deleteUserData('dana'), 'assertId', 'dana'],
    ['prune', () => storage.prune(pruneInput), 'normalizePruneInput', pruneInput],
    [
      'readMemories',
      () => memoryDb.readMemories(readInput),
      'normalizeReadMemoriesInput',
      readInput,
    ],
    [
      'readMemories({ missingEmbedding })',
      () => memoryDb.readMemories(missingInput),
      'normalizeReadMemoriesInput',
      missingInput,
    ],
    ['upsertMemory', () => memoryDb.upsertMemory(memory), 'normalizeUpsertMemoryInput', memory],
    [
      'upsertMemory({ embedding })',
      () => memoryDb.upsertMemory(embedded),
      'normalizeUpsertMemoryInput',
      embedded,
    ],
    [
      'searchMemories',
      () => memoryDb.searchMemories(searchInput),
      'normalizeSearchMemoriesInput',
      searchInput,
    ],
    ['deleteMemory', () => memoryDb.deleteMemory(memoryId), 'normalizeMemoryIdInput', memoryId],
    ['clearMemories', () => memoryDb.clearMemories(userInput), 'normalizeUserIdInput', userInput],
    ['memoryDb.deleteUserData', () => memoryDb.deleteUserData('dana'), 'assertId', 'dana'],
  ];

  for (const [method, call, validator, argument] of cases) {
    it(`${method} calls ${validator} before any SQL`, async () => {
      await call();
      const first = recorded.events[0];
      expect(first, method).toEqual({ kind: validator, argument });
      expect(recorded.events.some((event) => event.kind === 'sql')).toBe(true);
    });
  }

  it('checks the options of getSession and deleteSession with normalizeSessionOptions before any SQL', async () => {
    for (const call of [
      () => storage.getSession('s', sessionOptions),
      () => storage.deleteSession('s', sessionOptions),
    ]) {
      recorded.events.length = 0;
      await call();
      const firstSql = recorded.events.findIndex((event) => event.kind === 'sql');
      const options = recorded.events.findIndex(
        (event) => event.kind === 'normalizeSessionOptions' && event.argument === sessionOptions,
      );
      expect(options).toBeGreaterThanOrEqual(0);
      expect(options).toBeLessThan(firstSql);
    }
  });

  it('checks an embedding with normalizeMemoryEmbedding before any SQL (sqlite-vec loaded or not)', async () => {
    await memoryDb.upsertMemory(embedded);
    const firstSql = recorded.events.findIndex((event) => event.kind === 'sql');
    const checked = recorded.events.findIndex(
      (event) => event.kind === 'normalizeMemoryEmbedding' && event.argument === embedded,
    );
    expect(checked).toBeGreaterThanOrEqual(0);
    expect(checked).toBeLessThan(firstSql);
  });
});
