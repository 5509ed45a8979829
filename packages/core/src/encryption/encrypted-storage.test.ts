/**
 * What encryption at rest promises beyond the contract (SPEC §15.3): the backing holds no
 * plaintext of state, messages, names, summaries, paused runs or memories; a wrong key, a
 * record moved to another session (or memory) and an altered record fail with
 * `DECRYPTION_FAILED` naming it; keys rotate through `previousKeys`.
 */
import { randomBytes } from 'node:crypto';
import { makeMemory, makeRun, recordingLogger } from '@buddy/testkit/storage';
import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { InMemoryMemoryDb } from '../in-memory/in-memory-memory-db.ts';
import { InMemoryStorage, InMemoryStorageBacking } from '../in-memory/in-memory-storage.ts';
import type { PendingRunRecord } from '../spec/session-storage-v1.ts';
import { encryptedMemoryDb } from './encrypted-memory-db.ts';
import { ENCRYPTED_STATE_KEY, encryptedStorage } from './encrypted-storage.ts';
import { encryptionKeyId } from './record-cipher.ts';

const key = randomBytes(32);
const otherKey = randomBytes(32);

async function rejection(promise: Promise<unknown>): Promise<BuddyError> {
  try {
    await promise;
  } catch (error) {
    if (BuddyError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function rawDump(backing: InMemoryStorageBacking): string {
  return JSON.stringify({
    sessions: [...backing.sessions],
    runs: [...backing.runs],
  });
}

function paused(sessionId: string): PendingRunRecord {
  const runId = `paused-${sessionId}`;
  return {
    runId,
    userId: 'dana',
    messages: [
      { role: 'user', content: 'SECRET-PAUSED-ASK', id: 'm1', createdAt: 1, runId },
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'c1', name: 'pay', arguments: '{"iban":"SECRET-IBAN"}' }],
        id: 'm2',
        createdAt: 2,
        runId,
      },
    ],
    sessionState: { note: 'SECRET-PAUSED-STATE' },
    approvals: [
      { approvalId: 'a1', toolCallId: 'c1', toolName: 'pay', arguments: '{"iban":"SECRET-IBAN"}' },
    ],
    usage: { inputTokens: 1, outputTokens: 2 },
    model: { provider: 'mock', id: 'm' },
    rounds: 1,
    createdAt: 1,
    pausedAt: 3,
  };
}

async function fill(storage: ReturnType<typeof encryptedStorage>, sessionId: string) {
  await storage.appendRun({
    sessionId,
    userId: 'dana',
    sessionName: 'SECRET-NAME',
    run: makeRun(sessionId, 'SECRET-QUESTION', { userId: 'dana', answer: 'SECRET-ANSWER' }),
    sessionState: { diagnosis: 'SECRET-STATE' },
    metadata: { channel: 'web' },
  });
  await storage.upsertSession({
    sessionId,
    userId: 'dana',
    summary: {
      summary: 'SECRET-SUMMARY',
      topics: ['SECRET-TOPIC'],
      runsCovered: 1,
      updatedAt: 5,
    },
    pendingRun: paused(sessionId),
  });
}

describe('encryptedStorage', () => {
  it('stores no plaintext of state, messages, name, summary, topics or a paused run', async () => {
    const backing = new InMemoryStorageBacking();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key });
    await fill(storage, 's1');
    const raw = rawDump(backing);
    expect(raw).not.toMatch(/SECRET/);
    // What indexes need stays in clear.
    expect(raw).toContain('dana');
    expect(JSON.parse(backing.sessions.get('s1') ?? '').metadata).toEqual({ channel: 'web' });
    // And everything reads back.
    const record = await storage.getSession('s1');
    expect(record?.sessionState).toEqual({ diagnosis: 'SECRET-STATE' });
    expect(record?.sessionName).toBe('SECRET-NAME');
    expect(record?.summary).toEqual({
      summary: 'SECRET-SUMMARY',
      topics: ['SECRET-TOPIC'],
      runsCovered: 1,
      updatedAt: 5,
    });
    expect(record?.pendingRun).toEqual(paused('s1'));
    const [run] = await storage.getRuns({ sessionId: 's1' });
    expect(run?.messages.map((message) => message.content)).toEqual([
      'SECRET-QUESTION',
      'SECRET-ANSWER',
    ]);
    expect(run?.stateAfter).toEqual({ diagnosis: 'SECRET-STATE' });
    const { sessions } = await storage.listSessions({ userId: 'dana' });
    expect(sessions.map((info) => info.sessionName)).toEqual(['SECRET-NAME']);
  });

  it('uses a fresh IV for every record: the same state twice is two different ciphertexts', async () => {
    const backing = new InMemoryStorageBacking();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key });
    await storage.upsertSession({ sessionId: 'a', sessionState: { same: true } });
    await storage.upsertSession({ sessionId: 'b', sessionState: { same: true } });
    const stateOf = (id: string) =>
      (JSON.parse(backing.sessions.get(id) ?? '{}') as { sessionState: Record<string, string> })
        .sessionState[ENCRYPTED_STATE_KEY];
    const a = stateOf('a');
    const b = stateOf('b');
    expect(a).toMatch(/^be1\./);
    expect(a?.split('.')[1]).toBe(encryptionKeyId(key));
    expect(a?.split('.')[2]).not.toBe(b?.split('.')[2]);
  });

  it('fails with DECRYPTION_FAILED naming the session under a wrong key, never with garbage', async () => {
    const backing = new InMemoryStorageBacking();
    await fill(encryptedStorage(new InMemoryStorage({ backing }), { key }), 's1');
    const wrong = encryptedStorage(new InMemoryStorage({ backing }), { key: otherKey });
    const error = await rejection(wrong.getSession('s1'));
    expect(error.code).toBe('DECRYPTION_FAILED');
    expect(error.message).toContain('"s1"');
    expect(error.message).toContain('neither');
    expect(error.details.sessionId).toBe('s1');
    expect((await rejection(wrong.getRuns({ sessionId: 's1' }))).code).toBe('DECRYPTION_FAILED');
    // A key that is not known fails the listing (configuration), instead of hiding sessions.
    expect((await rejection(wrong.listSessions())).code).toBe('DECRYPTION_FAILED');
    // A lease that reads the session is not kept when the record does not decrypt.
    expect(
      (
        await rejection(
          wrong.acquireLease({ sessionId: 's1', ttlMs: 5000, waitMs: 0, readSession: true }),
        )
      ).code,
    ).toBe('DECRYPTION_FAILED');
    expect(backing.leases.has('s1')).toBe(false);
  });

  it('refuses a record copied to another session: state, run, summary and name are bound to theirs', async () => {
    const backing = new InMemoryStorageBacking();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key });
    await fill(storage, 'alice-session');
    await storage.appendRun({
      sessionId: 'mallory-session',
      userId: 'mallory',
      sessionName: 'mine',
      run: makeRun('mallory-session', 'hello'),
      sessionState: { mine: true },
    });
    await storage.upsertSession({
      sessionId: 'mallory-session',
      summary: { summary: 'mine', runsCovered: 1, updatedAt: 5 },
    });
    const alice = JSON.parse(backing.sessions.get('alice-session') ?? '') as Record<
      string,
      unknown
    >;
    for (const field of ['sessionState', 'sessionName', 'summary', 'pendingRun']) {
      const mallory = JSON.parse(backing.sessions.get('mallory-session') ?? '') as Record<
        string,
        unknown
      >;
      backing.sessions.set(
        'mallory-session',
        JSON.stringify({ ...mallory, [field]: alice[field] }),
      );
      const error = await rejection(storage.getSession('mallory-session'));
      expect(error.code, field).toBe('DECRYPTION_FAILED');
      expect(error.message).toContain('"mallory-session"');
      backing.sessions.set('mallory-session', JSON.stringify(mallory));
    }
    // A run copied over, with its run id, still belongs to alice's session.
    const aliceRun = JSON.parse(backing.runs.get('alice-session')?.[0] ?? '') as Record<
      string,
      unknown
    >;
    backing.runs
      .get('mallory-session')
      ?.push(JSON.stringify({ ...aliceRun, sessionId: 'mallory-session', index: 1 }));
    expect((await rejection(storage.getRuns({ sessionId: 'mallory-session' }))).code).toBe(
      'DECRYPTION_FAILED',
    );
    // Nothing of that broke alice's session.
    expect((await storage.getSession('alice-session'))?.sessionState).toEqual({
      diagnosis: 'SECRET-STATE',
    });
  });

  it('refuses an altered ciphertext and a plaintext record written around it', async () => {
    const backing = new InMemoryStorageBacking();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key });
    await storage.upsertSession({ sessionId: 's', sessionState: { a: 1 } });
    const record = JSON.parse(backing.sessions.get('s') ?? '') as {
      sessionState: Record<string, string>;
    };
    const token = record.sessionState[ENCRYPTED_STATE_KEY] ?? '';
    const flipped = `${token.slice(0, -3)}${token.slice(-3) === 'AAA' ? 'BBB' : 'AAA'}`;
    backing.sessions.set(
      's',
      JSON.stringify({ ...record, sessionState: { [ENCRYPTED_STATE_KEY]: flipped } }),
    );
    expect((await rejection(storage.getSession('s'))).code).toBe('DECRYPTION_FAILED');
    backing.sessions.set('s', JSON.stringify({ ...record, sessionState: { a: 1 } }));
    const plain = await rejection(storage.getSession('s'));
    expect(plain.code).toBe('DECRYPTION_FAILED');
    expect(plain.message).toContain('not encrypted');
  });

  it('reads records of previous keys and writes with the new one (rotation)', async () => {
    const backing = new InMemoryStorageBacking();
    await fill(encryptedStorage(new InMemoryStorage({ backing }), { key }), 's1');
    const rotated = encryptedStorage(new InMemoryStorage({ backing }), {
      key: otherKey.toString('base64'),
      previousKeys: [key.toString('base64url')],
    });
    expect((await rotated.getSession('s1'))?.sessionState).toEqual({ diagnosis: 'SECRET-STATE' });
    await rotated.upsertSession({ sessionId: 's1', sessionState: { diagnosis: 'new' } });
    const newOnly = encryptedStorage(new InMemoryStorage({ backing }), { key: otherKey });
    // The state was rewritten under the new key; the old run still needs the old one.
    const record = JSON.parse(backing.sessions.get('s1') ?? '') as {
      sessionState: Record<string, string>;
    };
    expect(record.sessionState[ENCRYPTED_STATE_KEY]?.split('.')[1]).toBe(encryptionKeyId(otherKey));
    expect((await rejection(newOnly.getRuns({ sessionId: 's1' }))).code).toBe('DECRYPTION_FAILED');
  });

  it('reads the empty state of a session created without one, and keeps {} states encrypted', async () => {
    const backing = new InMemoryStorageBacking();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key });
    expect((await storage.upsertSession({ sessionId: 'bare' })).sessionState).toEqual({});
    await storage.upsertSession({ sessionId: 'set', sessionState: {} });
    expect(backing.sessions.get('set')).toContain(ENCRYPTED_STATE_KEY);
    expect((await storage.getSession('set'))?.sessionState).toEqual({});
  });

  it('validates input before encrypting, naming the caller’s paths, and refuses names too long to encrypt', async () => {
    const storage = encryptedStorage(new InMemoryStorage(), { key });
    const bad = await rejection(
      storage.appendRun({
        sessionId: 's',
        run: { ...makeRun('s', 'x'), messages: [] },
        sessionState: {},
      }),
    );
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain('run.messages');
    const long = await rejection(
      storage.upsertSession({ sessionId: 's', sessionName: 'ü'.repeat(400) }),
    );
    expect(long.code).toBe('INVALID_ARGUMENT');
    expect(long.message).toContain('sessionName');
    expect(await storage.getSession('s')).toBeUndefined();
    await storage.upsertSession({ sessionId: 's', sessionName: 'n'.repeat(680) });
    expect((await storage.getSession('s'))?.sessionName).toBe('n'.repeat(680));
  });

  it('skips a session whose name was altered (reported through the logger), keeping the others', async () => {
    const backing = new InMemoryStorageBacking();
    const logger = recordingLogger();
    const storage = encryptedStorage(new InMemoryStorage({ backing }), { key, logger });
    await storage.upsertSession({ sessionId: 'good', userId: 'u', sessionName: 'fine' });
    await storage.upsertSession({ sessionId: 'bad', userId: 'u', sessionName: 'fine too' });
    const good = JSON.parse(backing.sessions.get('good') ?? '') as { sessionName: string };
    const bad = JSON.parse(backing.sessions.get('bad') ?? '') as Record<string, unknown>;
    backing.sessions.set('bad', JSON.stringify({ ...bad, sessionName: good.sessionName }));
    const { sessions } = await storage.listSessions({ userId: 'u' });
    expect(sessions.map((info) => info.sessionId)).toEqual(['good']);
    expect(logger.lines.some((line) => line.message.includes('"bad"'))).toBe(true);
  });

  it('refuses bad keys and options without ever echoing key material', async () => {
    const inner = new InMemoryStorage();
    const cases: [unknown, string][] = [
      [{}, "option 'key' is required"],
      [{ key: randomBytes(16) }, 'got 16 bytes'],
      [{ key: 'bm90IGEga2V5' }, 'base64 of 9 bytes'],
      [{ key: 'this is not base64!' }, 'not base64'],
      [{ key, previousKeys: [randomBytes(31)] }, "previousKeys[0]'"],
      [{ key, previousKeys: 'x' }, 'must be an array'],
      [{ key, keys: [] }, "unknown option 'keys'"],
    ];
    for (const [options, message] of cases) {
      let caught: unknown;
      try {
        encryptedStorage(inner, options as Parameters<typeof encryptedStorage>[1]);
      } catch (error) {
        caught = error;
      }
      expect(BuddyError.is(caught, 'INVALID_ARGUMENT'), String(caught)).toBe(true);
      expect((caught as Error).message).toContain(message);
      expect((caught as Error).message).not.toContain(key.toString('base64'));
    }
    expect(() => encryptedStorage({} as unknown as InMemoryStorage, { key })).toThrow(
      /SessionStorage/,
    );
  });
});

describe('encryptedMemoryDb', () => {
  it('stores no plaintext of memory texts, topics or inputs, and keeps search working', async () => {
    const inner = new InMemoryMemoryDb();
    const db = encryptedMemoryDb(inner, { key });
    const stored = await db.upsertMemory({
      userId: 'dana',
      memory: 'SECRET-MEMORY drinks oat milk',
      topics: ['SECRET-TOPIC'],
      input: 'SECRET-INPUT',
      embedding: [1, 0, 0],
      createdAt: 1000,
    });
    await db.upsertMemory({
      userId: 'dana',
      memory: 'other',
      embedding: [0, 1, 0],
      createdAt: 2000,
    });
    expect(JSON.stringify([...inner.rows])).not.toMatch(/SECRET/);
    expect(stored.memory).toBe('SECRET-MEMORY drinks oat milk');
    const [best] = await db.searchMemories({ userId: 'dana', embedding: [1, 0.1, 0], limit: 1 });
    expect(best).toMatchObject({ id: stored.id, memory: stored.memory, topics: ['SECRET-TOPIC'] });
    expect(await db.readMemories({ userId: 'dana', sort: 'oldest' })).toEqual([
      stored,
      expect.objectContaining({ memory: 'other' }),
    ]);
  });

  it('refuses a memory text moved to another row or user, and a wrong key, naming the memory', async () => {
    const inner = new InMemoryMemoryDb();
    const db = encryptedMemoryDb(inner, { key });
    const dana = await db.upsertMemory(makeMemory('dana', 'private'));
    const eve = await db.upsertMemory(makeMemory('eve', 'mine'));
    const danaRaw = JSON.parse(inner.rows.get('dana')?.get(dana.id) ?? '') as { memory: string };
    const eveRaw = JSON.parse(inner.rows.get('eve')?.get(eve.id) ?? '') as Record<string, unknown>;
    inner.rows.get('eve')?.set(eve.id, JSON.stringify({ ...eveRaw, memory: danaRaw.memory }));
    const moved = await rejection(db.readMemories({ userId: 'eve' }));
    expect(moved.code).toBe('DECRYPTION_FAILED');
    expect(moved.message).toContain(eve.id);
    expect(moved.details).toMatchObject({ memoryId: eve.id, userId: 'eve' });
    const wrong = encryptedMemoryDb(inner, { key: otherKey });
    expect((await rejection(wrong.readMemories({ userId: 'dana' }))).code).toBe(
      'DECRYPTION_FAILED',
    );
    const rotated = encryptedMemoryDb(inner, { key: otherKey, previousKeys: [key] });
    expect((await rotated.readMemories({ userId: 'dana' }))[0]?.memory).toBe('private');
  });
});
