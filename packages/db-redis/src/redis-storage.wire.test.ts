/**
 * What a turn sends to the server: the state of an append travels once (the script stores it in
 * the session hash and as the run's `stateAfter`), and what is stored is unchanged.
 */
import { makeRun, uniqueId } from '@buddy/testkit/storage';
import { type Command, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deletePrefix,
  REDIS_URL,
  rawClient,
  requireRedis,
  testPrefix,
} from '../test/redis-test-env.ts';
import { RedisStorage } from './redis-storage.ts';

const hasRedis = await requireRedis();

describe.skipIf(!hasRedis)('RedisStorage on the wire', () => {
  const raw = hasRedis ? rawClient() : (undefined as unknown as Redis);
  afterAll(async () => {
    await raw.quit();
  });

  it('sends the state of an append once and stores it in the hash and as stateAfter', async () => {
    const client = new Redis(REDIS_URL);
    const sent: string[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: Command, ...rest: unknown[]) => {
      sent.push(command.args.map((arg) => String(arg)).join('\u0000'));
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.sendCommand;
    const storage = new RedisStorage({ client, prefix: testPrefix() });
    try {
      const sessionId = uniqueId('wire');
      const state = { notes: `unique-${'y'.repeat(500)}-${sessionId}`, counter: 7 };
      sent.length = 0;
      await storage.appendRun({
        sessionId,
        userId: 'alice',
        run: makeRun(sessionId, 'hello'),
        sessionState: state,
      });
      const stateJson = JSON.stringify(state);
      const occurrences = sent.join('\n').split(stateJson).length - 1;
      expect(occurrences).toBe(1);
      const [stored] = await storage.getRuns({ sessionId });
      expect(stored?.stateAfter).toEqual(state);
      expect(stored?.index).toBe(0);
      expect((await storage.getSession(sessionId, { userId: 'alice' }))?.sessionState).toEqual(
        state,
      );
    } finally {
      await storage.close();
      await deletePrefix(raw, storage.prefix);
      client.disconnect();
    }
  });
});
