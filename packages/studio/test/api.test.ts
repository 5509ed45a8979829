/**
 * The Studio's JSON API through real HTTP on loopback, on InMemoryStorage and on a SQLite file:
 * every route, bad inputs, ownership (403 with nothing of the session in the body), paging that
 * never reads everything, chat over Server-Sent Events and a disconnect that aborts the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InMemoryMemoryDb,
  InMemoryStorage,
  type MemoryDb,
  type SessionStorage,
  type StoredRun,
  silentLogger,
} from '@buddy/core';
import { MAX_SESSION_NAME_LENGTH } from '@buddy/core/adapter-utils';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StudioRun, StudioRunPage, StudioSession, StudioSessionList } from '../src/index.ts';
import { createStudio, type Studio } from '../src/index.ts';
import { createChatAgent, GatedModel, type SeededData, seedStudioData } from './fixtures.ts';
import {
  call,
  chatThenDisconnect,
  cookiesSeen,
  parseServerSentEvents,
  type Reply,
  rawRequest,
} from './http-client.ts';

interface Backend {
  name: string;
  open(): { storage: SessionStorage; memoryDb: MemoryDb; dispose(): Promise<void> };
}

const backends: Backend[] = [
  {
    name: 'InMemoryStorage',
    open: () => {
      const storage = new InMemoryStorage();
      const memoryDb = new InMemoryMemoryDb();
      return { storage, memoryDb, dispose: async () => {} };
    },
  },
  {
    name: 'SqliteStorage (file)',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'buddy-studio-api-'));
      const storage = new SqliteStorage({ dbFile: join(dir, 'studio.db') });
      const memoryDb = new SqliteMemoryDb({ dbFile: join(dir, 'studio.db') });
      return {
        storage,
        memoryDb,
        dispose: async () => {
          await storage.close();
          await memoryDb.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** Every error answer has exactly this shape. */
function expectError(reply: Reply, status: number, code: string): string {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expect(reply.json).toEqual({ error: { code, message: expect.any(String) } });
  return (reply.json as { error: { message: string } }).error.message;
}

/** Records how the Studio calls the storage, to prove it never reads everything at once. */
function recording(storage: SessionStorage) {
  const calls: { method: string; input: unknown }[] = [];
  const proxy = new Proxy(storage, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push({ method: String(property), input: args[0] });
        return (value as (...inner: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { proxy, calls };
}

afterAll(() => {
  expect(cookiesSeen, 'the Studio never sets a cookie').toEqual([]);
});

describe.each(backends)('Studio API on $name', (backend) => {
  let opened: ReturnType<Backend['open']>;
  let storage: SessionStorage;
  let memoryDb: MemoryDb;
  let seeded: SeededData;
  let studio: Studio;
  let base: string;
  let port: number;
  let model: GatedModel;
  let calls: { method: string; input: unknown }[];

  beforeEach(async () => {
    opened = backend.open();
    memoryDb = opened.memoryDb;
    seeded = await seedStudioData(opened.storage, memoryDb);
    const recorder = recording(opened.storage);
    storage = recorder.proxy;
    calls = recorder.calls;
    model = new GatedModel();
    studio = createStudio({ storage, memoryDb, agent: createChatAgent(storage, model) });
    const address = await studio.listen({ port: 0 });
    base = address.url;
    port = address.port;
    expect(address.host).toBe('127.0.0.1');
    expect(address.url).toBe(`http://127.0.0.1:${port}/`);
  });

  afterEach(async () => {
    await studio.close();
    await opened.dispose();
  });

  describe('GET /api/info', () => {
    it('says what this Studio can do', async () => {
      const reply = await call(base, 'GET', '/api/info');
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ backend: storage.backend, memories: true, chat: true });
      expect(reply.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('GET /api/sessions', () => {
    it('lists every session, most recently updated first', async () => {
      const reply = await call(base, 'GET', '/api/sessions');
      expect(reply.status).toBe(200);
      const { sessions } = reply.json as StudioSessionList;
      // The order is the storage's (updatedAt desc, then id desc): the Studio passes it through.
      expect(sessions).toEqual((await opened.storage.listSessions()).sessions);
      expect(sessions.map((session) => session.sessionId).sort()).toEqual(
        [seeded.orphanSession, seeded.eveSession, seeded.danaCart, ...seeded.danaOthers].sort(),
      );
      expect(sessions.find((session) => session.sessionId === seeded.danaCart)).toMatchObject({
        sessionName: 'Weekly groceries',
        userId: 'dana',
      });
    });

    it("lists one user's sessions, one keyset page at a time", async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const query = new URLSearchParams({ userId: 'dana', limit: '1' });
        if (cursor !== undefined) query.set('cursor', cursor);
        const reply = await call(base, 'GET', `/api/sessions?${query}`);
        expect(reply.status).toBe(200);
        const page = reply.json as StudioSessionList;
        expect(page.sessions.length).toBeLessThanOrEqual(1);
        seen.push(...page.sessions.map((session) => session.sessionId));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== undefined && pages < 10);
      const all = await opened.storage.listSessions({ userId: 'dana' });
      expect(seen).toEqual(all.sessions.map((session) => session.sessionId));
      expect(seen).toHaveLength(3);
      const listCalls = calls.filter((entry) => entry.method === 'listSessions');
      expect(listCalls.length).toBe(pages);
      for (const entry of listCalls) expect(entry.input).toMatchObject({ limit: 1 });
    });

    it.each([
      ['limit=0', "query parameter 'limit' must be an integer from 1 to 100"],
      ['limit=101', "query parameter 'limit' must be an integer from 1 to 100"],
      ['limit=abc', "query parameter 'limit' must be an integer from 1 to 100"],
      ['limit=1.5', "query parameter 'limit' must be an integer from 1 to 100"],
      ['limit=', "query parameter 'limit' must be an integer from 1 to 100"],
      ['user=dana', "unknown query parameter 'user'"],
      ['userId=dana&userId=eve', "query parameter 'userId' is given twice"],
      ['userId=', "query parameter 'userId' must be a non-empty string"],
      ['userId=%01x', "query parameter 'userId' must not hold control characters"],
      ['cursor=', "query parameter 'cursor' must not be empty"],
      ['cursor=not-a-cursor', 'cursor'],
    ])('rejects ?%s with 400 naming the bad value', async (query, expected) => {
      const reply = await call(base, 'GET', `/api/sessions?${query}`);
      expect(expectError(reply, 400, 'INVALID_ARGUMENT')).toContain(expected);
    });
  });

  describe('GET /api/sessions/:id', () => {
    it('returns the record with state, name, summary, owner and timestamps', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}`);
      expect(reply.status).toBe(200);
      const { session } = reply.json as { session: StudioSession };
      expect(session).toMatchObject({
        sessionId: seeded.danaCart,
        sessionName: 'Weekly groceries',
        userId: 'dana',
        runCount: 2,
        summary: { summary: 'Dana added oat milk to the cart.', runsCovered: 1 },
      });
      expect(session.sessionState.cart).toEqual(['oat milk']);
      expect(session.createdAt).toBeLessThanOrEqual(session.updatedAt);
      expect(session).not.toHaveProperty('incarnation');
    });

    it('works with the owner as userId', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}?userId=dana`);
      expect(reply.status).toBe(200);
    });

    it('answers 403 SESSION_OWNERSHIP for another user, with nothing of the session in the body', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}?userId=eve`);
      expectError(reply, 403, 'SESSION_OWNERSHIP');
      for (const secret of ['dana', 'Weekly groceries', 'oat milk', 'groceries', 'cart"']) {
        expect(reply.text).not.toContain(secret === 'groceries' ? 'Dana added' : secret);
      }
      expect(reply.text).not.toMatch(/dana/i);
    });

    it('answers 403 for a session without owner when a userId is given', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.orphanSession}?userId=eve`);
      expectError(reply, 403, 'SESSION_OWNERSHIP');
      expect(reply.text).not.toContain('Who am I');
    });

    it('answers 404 for an unknown session', async () => {
      const reply = await call(base, 'GET', '/api/sessions/nope');
      expect(expectError(reply, 404, 'NOT_FOUND')).toContain('"nope"');
    });

    it('decodes ids with reserved characters', async () => {
      const reply = await call(
        base,
        'GET',
        `/api/sessions/${encodeURIComponent(seeded.eveSession)}?userId=eve`,
      );
      expect(reply.status).toBe(200);
      expect((reply.json as { session: StudioSession }).session.sessionId).toBe(seeded.eveSession);
    });

    it('rejects a bad id and unknown query parameters with 400', async () => {
      expectError(await call(base, 'GET', '/api/sessions/%20%20'), 400, 'INVALID_ARGUMENT');
      expectError(
        await call(base, 'GET', `/api/sessions/${'x'.repeat(300)}`),
        400,
        'INVALID_ARGUMENT',
      );
      expectError(
        await call(base, 'GET', `/api/sessions/${seeded.danaCart}?user=dana`),
        400,
        'INVALID_ARGUMENT',
      );
    });
  });

  describe('GET /api/sessions/:id/runs', () => {
    it('returns runs with messages, tool calls and results, usage, stateAfter and the state change', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs`);
      expect(reply.status).toBe(200);
      const { runs, nextCursor } = reply.json as StudioRunPage;
      expect(nextCursor).toBeUndefined();
      expect(runs.map((run) => run.index)).toEqual([0, 1]);
      const [first, second] = runs as [StudioRun, StudioRun];
      expect(first.messages.map((message) => message.role)).toEqual([
        'user',
        'assistant',
        'tool',
        'assistant',
      ]);
      const assistant = first.messages[1];
      expect(assistant?.role === 'assistant' && assistant.toolCalls?.[0]).toMatchObject({
        name: 'add_to_cart',
        arguments: JSON.stringify({ item: 'oat milk' }),
      });
      expect(first.messages[2]).toMatchObject({
        role: 'tool',
        toolName: 'add_to_cart',
        content: 'Added oat milk. The cart holds 1 item(s).',
      });
      expect(first.usage.inputTokens).toBeGreaterThan(0);
      expect(first.model).toEqual({ provider: 'mock', id: 'mock-model' });
      expect(first.stateAfter?.cart).toEqual(['oat milk']);
      expect(first.stateChanges).toContainEqual({
        path: ['cart'],
        kind: 'added',
        after: ['oat milk'],
      });
      expect(second.stateChanges).toEqual([]);
    });

    it('pages with from / limit / nextCursor, and diffs the first run of a page against the run before it', async () => {
      const agent = createChatAgent(opened.storage, new GatedModel());
      await agent.run('add eggs', { sessionId: seeded.danaCart, userId: 'dana' });
      await agent.run('add bread', { sessionId: seeded.danaCart, userId: 'dana' });
      const all = (
        (await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs`)).json as StudioRunPage
      ).runs;
      expect(all).toHaveLength(4);

      const paged: StudioRun[] = [];
      let from: string | undefined = '0';
      while (from !== undefined) {
        const reply = await call(
          base,
          'GET',
          `/api/sessions/${seeded.danaCart}/runs?from=${from}&limit=1&userId=dana`,
        );
        expect(reply.status).toBe(200);
        const page = reply.json as StudioRunPage;
        expect(page.runs).toHaveLength(1);
        paged.push(...page.runs);
        from = page.nextCursor;
      }
      expect(paged).toEqual(all);
      expect(all[3]?.stateChanges).toEqual([
        {
          path: ['cart'],
          kind: 'changed',
          before: ['oat milk', 'eggs'],
          after: ['oat milk', 'eggs', 'bread'],
        },
      ]);
      for (const entry of calls.filter((item) => item.method === 'getRuns')) {
        const input = entry.input as { limit?: number; last?: number };
        expect(input.last).toBeUndefined();
        expect(input.limit).toBeLessThanOrEqual(102);
      }
    });

    it('starts anywhere: the last page of the timeline', async () => {
      const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs?from=1&limit=5`);
      const page = reply.json as StudioRunPage;
      expect(page.runs.map((run) => run.index)).toEqual([1]);
      expect(page.runs[0]?.stateChanges).toEqual([]);
      const beyond = await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs?from=9`);
      expect(beyond.json).toEqual({ runs: [] });
    });

    it('reports an unknown state change (null) for runs stored without stateAfter', async () => {
      const legacy = new Proxy(opened.storage, {
        get(target, property, receiver) {
          if (property === 'getRuns') {
            return async (input: Parameters<SessionStorage['getRuns']>[0]) =>
              (await target.getRuns(input)).map(
                ({ stateAfter: _dropped, ...run }) => run as StoredRun,
              );
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const old = createStudio({ storage: legacy, logger: silentLogger });
      const reply = await old.fetch(
        new Request(`http://127.0.0.1/api/sessions/${seeded.danaCart}/runs`),
      );
      const page = (await reply.json()) as StudioRunPage;
      expect(page.runs.map((run) => [run.stateAfter, run.stateChanges])).toEqual([
        [null, null],
        [null, null],
      ]);
      await old.close();
    });

    it('answers 403 for another user (no runs in the body) and 404 for an unknown session', async () => {
      const forbidden = await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs?userId=eve`);
      expectError(forbidden, 403, 'SESSION_OWNERSHIP');
      expect(forbidden.text).not.toContain('oat milk');
      expect(calls.some((entry) => entry.method === 'getRuns')).toBe(false);
      expectError(await call(base, 'GET', '/api/sessions/nope/runs'), 404, 'NOT_FOUND');
    });

    it.each(['from=-1', 'from=abc', 'limit=0', 'limit=101', 'last=3'])(
      'rejects ?%s with 400',
      async (query) => {
        expectError(
          await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs?${query}`),
          400,
          'INVALID_ARGUMENT',
        );
      },
    );
  });

  describe('PATCH /api/sessions/:id', () => {
    it('renames the session', async () => {
      const reply = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}?userId=dana`, {
        body: { sessionName: 'Groceries for the party' },
      });
      expect(reply.status).toBe(200);
      expect((reply.json as { session: StudioSession }).session.sessionName).toBe(
        'Groceries for the party',
      );
      const after = await storage.getSession(seeded.danaCart);
      expect(after?.sessionName).toBe('Groceries for the party');
      expect(after?.runCount).toBe(2);
      expect(after?.sessionState.cart).toEqual(['oat milk']);
    });

    it('does not create an unknown session', async () => {
      expectError(
        await call(base, 'PATCH', '/api/sessions/ghost', { body: { sessionName: 'Boo' } }),
        404,
        'NOT_FOUND',
      );
      expect(await storage.getSession('ghost')).toBeUndefined();
    });

    it("refuses another user's session with 403 and changes nothing", async () => {
      const reply = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}?userId=eve`, {
        body: { sessionName: 'Mine now' },
      });
      expectError(reply, 403, 'SESSION_OWNERSHIP');
      expect(reply.text).not.toContain('Weekly groceries');
      expect((await storage.getSession(seeded.danaCart))?.sessionName).toBe('Weekly groceries');
    });

    it.each([
      [{}, "body field 'sessionName'"],
      [{ sessionName: '' }, "body field 'sessionName' must be a non-empty string"],
      [{ sessionName: '   ' }, "body field 'sessionName' must be a non-empty string"],
      [
        { sessionName: 'x'.repeat(MAX_SESSION_NAME_LENGTH + 1) },
        `at most ${MAX_SESSION_NAME_LENGTH} characters`,
      ],
      [{ sessionName: 42 }, "body field 'sessionName' must be a string, got 42"],
      [{ sessionName: 'ok', extra: true }, "unknown body field 'extra'"],
      [null, 'body must be an object, got null'],
      [['sessionName'], 'body must be an object'],
    ])('rejects the body %j with 400', async (body, expected) => {
      const reply = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}`, { body });
      expect(expectError(reply, 400, 'INVALID_ARGUMENT')).toContain(expected);
      expect((await storage.getSession(seeded.danaCart))?.sessionName).toBe('Weekly groceries');
    });

    it('rejects a body that is not JSON, or not sent as JSON', async () => {
      const broken = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}`, {
        rawBody: '{"sessionName":',
      });
      expect(expectError(broken, 400, 'INVALID_ARGUMENT')).toContain('body must be JSON');
      const plain = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}`, {
        rawBody: JSON.stringify({ sessionName: 'x' }),
        headers: { 'content-type': 'text/plain' },
      });
      expect(expectError(plain, 400, 'INVALID_ARGUMENT')).toContain('application/json');
      const huge = await call(base, 'PATCH', `/api/sessions/${seeded.danaCart}`, {
        rawBody: JSON.stringify({ sessionName: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(expectError(huge, 400, 'INVALID_ARGUMENT')).toContain('at most 1048576 bytes');
    });
  });

  describe('DELETE /api/sessions/:id', () => {
    it('deletes the session and its runs', async () => {
      const reply = await call(base, 'DELETE', `/api/sessions/${seeded.danaCart}?userId=dana`);
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ deleted: true });
      expectError(await call(base, 'GET', `/api/sessions/${seeded.danaCart}`), 404, 'NOT_FOUND');
      expectError(
        await call(base, 'GET', `/api/sessions/${seeded.danaCart}/runs`),
        404,
        'NOT_FOUND',
      );
      expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toEqual([]);
      expectError(await call(base, 'DELETE', `/api/sessions/${seeded.danaCart}`), 404, 'NOT_FOUND');
    });

    it("refuses another user's session with 403 and keeps it", async () => {
      const reply = await call(base, 'DELETE', `/api/sessions/${seeded.danaCart}?userId=eve`);
      expectError(reply, 403, 'SESSION_OWNERSHIP');
      expect(await storage.getSession(seeded.danaCart)).toBeDefined();
    });
  });

  describe('GET /api/users/:userId/memories', () => {
    it("returns the user's memories, newest first, with topics and dates", async () => {
      const reply = await call(base, 'GET', '/api/users/dana/memories');
      expect(reply.status).toBe(200);
      const { memories, hasMore } = reply.json as {
        memories: { memory: string; topics?: string[]; createdAt: number; userId: string }[];
        hasMore: boolean;
      };
      expect(hasMore).toBe(false);
      expect(memories.map((memory) => memory.memory)).toEqual([
        'Dana prefers oat milk.',
        'Dana is allergic to peanuts.',
      ]);
      expect(memories[1]).toMatchObject({ topics: ['health'], input: 'I am allergic to peanuts' });
      expect(memories.every((memory) => memory.userId === 'dana')).toBe(true);
      expect(typeof memories[0]?.createdAt).toBe('number');
    });

    it('pages with limit and says when there are more', async () => {
      const reply = await call(base, 'GET', '/api/users/dana/memories?limit=1');
      expect(reply.json).toMatchObject({
        hasMore: true,
        memories: [{ memory: 'Dana prefers oat milk.' }],
      });
      expectError(
        await call(base, 'GET', '/api/users/dana/memories?limit=0'),
        400,
        'INVALID_ARGUMENT',
      );
      expectError(
        await call(base, 'GET', '/api/users/dana/memories?sort=x'),
        400,
        'INVALID_ARGUMENT',
      );
    });

    it('is 404 without a memoryDb', async () => {
      const bare = createStudio({ storage });
      const reply = await bare.fetch(new Request('http://127.0.0.1/api/users/dana/memories'));
      expect(reply.status).toBe(404);
      expect(await reply.json()).toEqual({
        error: { code: 'NOT_FOUND', message: expect.stringContaining('memoryDb') },
      });
      await bare.close();
    });
  });

  describe('DELETE /api/users/:userId', () => {
    it('forgets the user: deletes their sessions and memories and returns the counts', async () => {
      const reply = await call(base, 'DELETE', '/api/users/dana');
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ sessions: 3, memories: 2 });
      expect(
        ((await call(base, 'GET', '/api/sessions?userId=dana')).json as StudioSessionList).sessions,
      ).toEqual([]);
      expect((await call(base, 'GET', '/api/users/dana/memories')).json).toEqual({
        memories: [],
        hasMore: false,
      });
      // Nobody else was touched.
      expect(await storage.getSession(seeded.eveSession)).toBeDefined();
      expect(await memoryDb.readMemories({ userId: 'eve' })).toHaveLength(1);
      expect((await call(base, 'DELETE', '/api/users/dana')).json).toEqual({
        sessions: 0,
        memories: 0,
      });
    });

    it('reports memories: null without a memoryDb', async () => {
      const bare = createStudio({ storage });
      const reply = await bare.fetch(
        new Request('http://127.0.0.1/api/users/eve', { method: 'DELETE' }),
      );
      expect(await reply.json()).toEqual({ sessions: 1, memories: null });
      await bare.close();
    });

    it('rejects a bad user id', async () => {
      expectError(await call(base, 'DELETE', '/api/users/%09'), 400, 'INVALID_ARGUMENT');
    });
  });

  describe('POST /api/sessions/:id/chat', () => {
    it("streams the run's events as SSE and stores the run with its state", async () => {
      const response = await fetch(new URL(`/api/sessions/${seeded.danaCart}/chat`, base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'add eggs' }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const events = parseServerSentEvents(await response.text());
      for (const event of events) expect(event.event).toBe(event.data.type);
      const types = events.map((event) => event.event);
      expect(types[0]).toBe('run-started');
      expect(types.at(-1)).toBe('run-completed');
      expect(types).toEqual(
        expect.arrayContaining(['tool-call', 'tool-result', 'text-delta', 'run-completed']),
      );
      expect(types.indexOf('tool-call')).toBeLessThan(types.indexOf('tool-result'));
      expect(types.filter((type) => type === 'text-delta').length).toBeGreaterThan(1);
      const text = events
        .filter((event) => event.event === 'text-delta')
        .map((event) => event.data.delta)
        .join('');
      expect(text).toBe('Done: Added eggs. The cart holds 2 item(s).');
      // The owner speaks in their session when no userId is given.
      expect(events[0]?.data).toMatchObject({ sessionId: seeded.danaCart, userId: 'dana' });

      const runs = await opened.storage.getRuns({ sessionId: seeded.danaCart });
      expect(runs).toHaveLength(3);
      expect(runs[2]?.userId).toBe('dana');
      expect(runs[2]?.stateAfter?.cart).toEqual(['oat milk', 'eggs']);
    });

    it('starts a new session when the id is new', async () => {
      const response = await fetch(new URL('/api/sessions/brand-new/chat', base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'hello', userId: 'zoe' }),
      });
      const events = parseServerSentEvents(await response.text());
      expect(events.at(-1)?.event).toBe('run-completed');
      expect((await storage.getSession('brand-new'))?.userId).toBe('zoe');
    });

    it("refuses another user's session with 403 before anything runs", async () => {
      const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
        body: { message: 'add caviar', userId: 'eve' },
      });
      expectError(reply, 403, 'SESSION_OWNERSHIP');
      expect(reply.text).not.toContain('oat milk');
      expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(2);
    });

    it('answers 409 SESSION_BUSY while another run holds the session', async () => {
      const lease = await opened.storage.acquireLease({
        sessionId: seeded.danaCart,
        ttlMs: 60_000,
        waitMs: 0,
      });
      try {
        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { message: 'add tea' },
        });
        expectError(reply, 409, 'SESSION_BUSY');
      } finally {
        await lease.release();
      }
      expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(2);
    });

    it.each([
      [{}, "body field 'message'"],
      [{ message: '' }, "body field 'message' must be a non-empty string"],
      [{ message: '  ' }, "body field 'message' must be a non-empty string"],
      [{ message: 7 }, "body field 'message' must be a string"],
      [{ message: 'hi', userId: '' }, "body field 'userId' must be a non-empty string"],
      [{ message: 'hi', sessionState: {} }, "unknown body field 'sessionState'"],
    ])('rejects the body %j with 400', async (body, expected) => {
      const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, { body });
      expect(expectError(reply, 400, 'INVALID_ARGUMENT')).toContain(expected);
    });

    describe('tools that need approval', () => {
      /** Chats "check out" in Dana's session: the run pauses at the checkout tool. */
      async function pause(): Promise<string> {
        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { message: 'check out' },
        });
        const events = parseServerSentEvents(reply.text);
        const requested = events.find((event) => event.event === 'approval-requested');
        expect(requested?.data.pendingApprovals).toEqual([
          { approvalId: expect.any(String), toolName: 'checkout', arguments: '{}' },
        ]);
        expect(events.at(-1)?.data).toMatchObject({
          type: 'run-completed',
          response: { status: 'awaiting-approval' },
        });
        const pending = (requested?.data.pendingApprovals ?? []) as { approvalId: string }[];
        return pending[0]?.approvalId as string;
      }

      async function session(): Promise<StudioSession> {
        const reply = await call(base, 'GET', `/api/sessions/${seeded.danaCart}`);
        return (reply.json as { session: StudioSession }).session;
      }

      it('pauses at the tool, shows the approval on the session, refuses a new message, and runs the tool once when approved', async () => {
        const approvalId = await pause();
        expect((await session()).pendingApprovals).toEqual([
          { approvalId, toolName: 'checkout', arguments: '{}' },
        ]);
        const busy = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { message: 'add tea' },
        });
        expect(expectError(busy, 409, 'SESSION_BUSY')).toContain('checkout');

        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { approvals: { [approvalId]: { approved: true } } },
        });
        const events = parseServerSentEvents(reply.text);
        expect(events.filter((event) => event.event === 'tool-result')).toHaveLength(1);
        expect(events.at(-1)?.data).toMatchObject({
          type: 'run-completed',
          response: { status: 'completed', content: 'Done: Ordered 1 item(s).' },
        });
        const runs = await opened.storage.getRuns({ sessionId: seeded.danaCart });
        expect(runs).toHaveLength(3);
        expect(runs[2]?.status ?? 'completed').toBe('completed');
        expect(runs[2]?.stateAfter).toMatchObject({ cart: [], orders: 1 });
        expect((await session()).pendingApprovals).toBeUndefined();
        // The answered approval cannot be answered again.
        const again = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { approvals: { [approvalId]: { approved: true } } },
        });
        expect(expectError(again, 400, 'INVALID_ARGUMENT')).toContain(
          'has no run waiting for approval',
        );
        expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(3);
      });

      it('sends a denial and its reason to the model; the tool never runs', async () => {
        const approvalId = await pause();
        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { approvals: { [approvalId]: { approved: false, reason: 'not today' } } },
        });
        const events = parseServerSentEvents(reply.text);
        expect(events.at(-1)?.data).toMatchObject({
          response: { status: 'completed', content: 'Done: Error: denied: not today' },
        });
        const runs = await opened.storage.getRuns({ sessionId: seeded.danaCart });
        expect(runs).toHaveLength(3);
        expect(runs[2]?.stateAfter?.orders).toBeUndefined();
        expect(runs[2]?.stateAfter?.cart).toEqual(['oat milk']);
      });

      it("refuses another user's decisions with 403", async () => {
        const approvalId = await pause();
        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { approvals: { [approvalId]: { approved: true } }, userId: 'eve' },
        });
        expectError(reply, 403, 'SESSION_OWNERSHIP');
        expect((await session()).pendingApprovals).toHaveLength(1);
      });

      it.each([
        [
          'message with approvals',
          { message: 'hi', approvals: { a: { approved: true } } },
          "body field 'approvals' cannot come with 'message'",
        ],
        [
          'no decision',
          { approvals: {} },
          "body field 'approvals' must hold at least one decision",
        ],
        [
          'approved not a boolean',
          { approvals: { a: { approved: 'yes' } } },
          "body field 'approvals.a.approved' must be a boolean",
        ],
        [
          'an unknown key',
          { approvals: { a: { approved: true, why: 'x' } } },
          "unknown body field 'why'",
        ],
        [
          'a reason of 1,001 characters',
          { approvals: { a: { approved: false, reason: 'x'.repeat(1001) } } },
          "body field 'approvals.a.reason' must be at most 1000 characters",
        ],
        ['an array', { approvals: [] }, "body field 'approvals' must be a record"],
      ])(
        'rejects decisions with %s (400), and the paused run stays',
        async (_label, body, expected) => {
          await pause();
          const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, { body });
          expect(expectError(reply, 400, 'INVALID_ARGUMENT')).toContain(expected);
          expect((await session()).pendingApprovals).toHaveLength(1);
        },
      );

      it('refuses decisions that name no pending approval; the paused run stays', async () => {
        await pause();
        const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
          body: { approvals: { 'not-an-approval': { approved: true } } },
        });
        const events = parseServerSentEvents(reply.text);
        expect(events.at(-1)?.data).toMatchObject({
          type: 'run-error',
          error: { code: 'INVALID_ARGUMENT' },
        });
        expect((await session()).pendingApprovals).toHaveLength(1);
        expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(2);
      });
    });

    it('is 404 without an agent', async () => {
      const bare = createStudio({ storage });
      const reply = await bare.fetch(
        new Request('http://127.0.0.1/api/sessions/x/chat', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'hi' }),
        }),
      );
      expect(reply.status).toBe(404);
      expect(((await reply.json()) as { error: { message: string } }).error.message).toContain(
        'without an agent',
      );
      await bare.close();
    });

    it('aborts the run when the client disconnects mid-answer (nothing stored, session free again)', async () => {
      model.gate.close();
      const received = await chatThenDisconnect(
        port,
        `/api/sessions/${seeded.danaCart}/chat`,
        { message: 'add eggs' },
        'event: text-delta',
      );
      expect(received).toContain('event: tool-result');
      // Resolves only when the model's signal fired while it was holding the answer.
      await model.aborted;
      model.gate.open();
      // The aborted run was not stored, and the lease was released: the next chat runs at once.
      const reply = await call(base, 'POST', `/api/sessions/${seeded.danaCart}/chat`, {
        body: { message: 'add tea' },
      });
      const events = parseServerSentEvents(reply.text);
      expect(events.at(-1)?.event).toBe('run-completed');
      const runs = await opened.storage.getRuns({ sessionId: seeded.danaCart });
      expect(runs).toHaveLength(3);
      expect(runs[2]?.stateAfter?.cart).toEqual(['oat milk', 'tea']);
    });

    it('aborts the run when a fetch() caller cancels the body', async () => {
      model.gate.close();
      const response = await studio.fetch(
        new Request(`http://127.0.0.1/api/sessions/${seeded.danaCart}/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'add eggs' }),
        }),
      );
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('event: text-delta')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`ended early: ${text}`);
        text += new TextDecoder().decode(value);
      }
      await reader.cancel();
      await model.aborted;
      model.gate.open();
      expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(2);
    });

    it('close() aborts a running chat and ends its stream', async () => {
      model.gate.close();
      const response = await fetch(new URL(`/api/sessions/${seeded.danaCart}/chat`, base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'add eggs' }),
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('event: text-delta')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`ended early: ${text}`);
        text += new TextDecoder().decode(value);
      }
      await studio.close();
      await model.aborted;
      // The connection was closed with the server: reading ends (or fails), it never hangs.
      await reader.read().then(
        () => undefined,
        () => undefined,
      );
      model.gate.open();
      expect(await opened.storage.getRuns({ sessionId: seeded.danaCart })).toHaveLength(2);
    });
  });

  describe('errors and routing', () => {
    it('answers unknown API routes with 404 JSON', async () => {
      expectError(await call(base, 'GET', '/api/nothing'), 404, 'NOT_FOUND');
      expectError(
        await call(base, 'PUT', `/api/sessions/${seeded.danaCart}`, { body: {} }),
        404,
        'NOT_FOUND',
      );
      expectError(await call(base, 'POST', '/api/sessions', { body: {} }), 404, 'NOT_FOUND');
    });

    it('answers 503 with the storage code when the storage is closed', async () => {
      await opened.storage.close();
      const reply = await call(base, 'GET', '/api/sessions');
      expect(reply.status).toBe(503);
      // The contract says STORAGE_CLOSED; SqliteStorage still says STORAGE_UNAVAILABLE (both 503).
      expect(['STORAGE_CLOSED', 'STORAGE_UNAVAILABLE']).toContain(
        (reply.json as { error: { code: string } }).error.code,
      );
    });
  });
});

describe('Studio access rules', () => {
  const storage = new InMemoryStorage();
  const token = 'correct-horse-battery-staple';

  it('requires the bearer token on every API route when auth is set', async () => {
    const studio = createStudio({ storage, auth: { token } });
    const { url } = await studio.listen({ port: 0 });
    try {
      const missing = await call(url, 'GET', '/api/sessions');
      expectError(missing, 401, 'UNAUTHORIZED');
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await call(url, 'GET', '/api/sessions', {
        headers: { authorization: `Bearer ${token}x` },
      });
      expectError(wrong, 401, 'UNAUTHORIZED');
      const short = await call(url, 'GET', '/api/sessions', {
        headers: { authorization: 'Bearer c' },
      });
      expectError(short, 401, 'UNAUTHORIZED');
      const basic = await call(url, 'GET', '/api/sessions', {
        headers: { authorization: `Basic ${token}` },
      });
      expectError(basic, 401, 'UNAUTHORIZED');
      for (const [method, path] of [
        ['GET', '/api/info'],
        ['GET', '/api/sessions/x'],
        ['GET', '/api/sessions/x/runs'],
        ['DELETE', '/api/sessions/x'],
        ['DELETE', '/api/users/x'],
        ['GET', '/api/users/x/memories'],
      ] as const) {
        expectError(await call(url, method, path), 401, 'UNAUTHORIZED');
      }
      const right = await call(url, 'GET', '/api/sessions', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(right.status).toBe(200);
      // The page itself holds no data and loads without the token (it asks for it).
      const page = await call(url, 'GET', '/');
      expect(page.status).toBe(200);
    } finally {
      await studio.close();
    }
  });

  it('without a token, refuses requests naming a non-loopback host (DNS rebinding)', async () => {
    const studio = createStudio({ storage });
    const { port } = await studio.listen({ port: 0 });
    try {
      const rebound = await rawRequest(port, {
        method: 'GET',
        path: '/api/sessions',
        headers: { host: `attacker.example:${port}` },
      });
      expect(rebound.status).toBe(403);
      expect(JSON.parse(rebound.body)).toEqual({
        error: { code: 'FORBIDDEN', message: expect.stringContaining('attacker.example') },
      });
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
        const ok = await rawRequest(port, {
          method: 'GET',
          path: '/api/sessions',
          headers: { host },
        });
        expect(ok.status, host).toBe(200);
      }
    } finally {
      await studio.close();
    }
  });

  it('with a token, accepts any host name that carries it', async () => {
    const studio = createStudio({ storage, auth: { token } });
    const { port } = await studio.listen({ port: 0 });
    try {
      const reply = await rawRequest(port, {
        method: 'GET',
        path: '/api/sessions',
        headers: { host: `studio.lan:${port}`, authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(200);
    } finally {
      await studio.close();
    }
  });

  it('refuses cross-origin requests', async () => {
    const studio = createStudio({ storage });
    const { url } = await studio.listen({ port: 0 });
    try {
      const reply = await call(url, 'DELETE', '/api/users/dana', {
        headers: { origin: 'http://attacker.example' },
      });
      expectError(reply, 403, 'FORBIDDEN');
      const nullOrigin = await call(url, 'GET', '/api/sessions', { headers: { origin: 'null' } });
      expectError(nullOrigin, 403, 'FORBIDDEN');
      const same = await call(url, 'GET', '/api/sessions', {
        headers: { origin: url.replace(/\/$/, '') },
      });
      expect(same.status).toBe(200);
    } finally {
      await studio.close();
    }
  });

  it('listens on loopback by default and refuses other hosts without a token', async () => {
    const studio = createStudio({ storage });
    await expect(studio.listen({ port: 0, host: '0.0.0.0' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('auth'),
    });
    await expect(studio.listen({ port: 0, host: '::' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const address = await studio.listen({ port: 0 });
    expect(address.host).toBe('127.0.0.1');
    await expect(studio.listen({ port: 0 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await studio.close();
    await studio.close();
    await expect(fetch(address.url)).rejects.toThrow();
    await expect(studio.listen({ port: 0 })).rejects.toMatchObject({ code: 'STORAGE_CLOSED' });
  });

  it('rejects bad listen options', async () => {
    const studio = createStudio({ storage });
    await expect(studio.listen({ port: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(studio.listen({ port: 1.5 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(studio.listen({ host: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      studio.listen({ hostname: 'x' } as unknown as { host: string }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const first = await studio.listen({ port: 0 });
    const other = createStudio({ storage });
    await expect(other.listen({ port: first.port })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('EADDRINUSE'),
    });
    await studio.close();
    await other.close();
  });

  it('checks its options', () => {
    const bad = (options: unknown) => () =>
      createStudio(options as Parameters<typeof createStudio>[0]);
    expect(bad(undefined)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({})).toThrow(/option 'storage' must be a SessionStorage/);
    expect(bad({ storage, store: storage })).toThrow(/unknown option "store"/);
    expect(bad({ storage, memoryDb: {} })).toThrow(/option 'memoryDb'/);
    expect(bad({ storage, agent: {} })).toThrow(/option 'agent'/);
    expect(bad({ storage, agent: createChatAgent(new InMemoryStorage()) })).toThrow(
      /must use the Studio's storage/,
    );
    expect(bad({ storage, auth: { token: 'short' } })).toThrow(/at least 16 characters/);
    expect(bad({ storage, auth: { token: 'has spaces in the token' } })).toThrow(/without spaces/);
    expect(bad({ storage, auth: {} })).toThrow(/auth.token/);
  });

  it('serves the built UI with a strict CSP, and nothing outside it', async () => {
    const studio = createStudio({ storage });
    const { url } = await studio.listen({ port: 0 });
    try {
      const page = await call(url, 'GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.headers.get('content-security-policy')).not.toContain('unsafe-inline');
      expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(page.text).not.toMatch(/https?:\/\//);
      const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.text)?.[1];
      expect(script).toBeDefined();
      const asset = await call(url, 'GET', `/${script}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(asset.headers.get('cache-control')).toContain('immutable');
      for (const path of ['/nope.js', '/../package.json', '/%2e%2e/package.json', '/assets/']) {
        expect((await call(url, 'GET', path)).status, path).toBe(404);
      }
      expect((await call(url, 'POST', '/', { body: {} })).status).toBe(404);
      const head = await fetch(new URL('/', url), { method: 'HEAD' });
      expect(head.status).toBe(200);
    } finally {
      await studio.close();
    }
  });
});
