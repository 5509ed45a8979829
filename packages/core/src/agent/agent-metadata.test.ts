/** Session metadata at the Agent (SPEC §16.2). */
import { MockModel } from '@buddy/testkit';
import { describe, expect, it } from 'vitest';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { silentLogger } from '../logging/console-logger.ts';
import { Agent } from './agent.ts';

describe('Agent: session metadata', () => {
  it('stores sessionMetadata on new sessions, updates it, and filters listing by it', async () => {
    const storage = new InMemoryStorage();
    const make = (sessionId: string, channel: string) =>
      new Agent({
        model: new MockModel({ respond: () => 'ok' }),
        userId: 'dana',
        sessionId,
        storage,
        sessionMetadata: { channel },
        logger: silentLogger,
      });
    const web = make('web-1', 'web');
    await web.run('hi');
    const app = make('app-1', 'app');
    await app.run('hi');
    await make('web-2', 'web').run('hi');
    expect((await storage.getSession('web-1'))?.metadata).toEqual({ channel: 'web' });
    const listed = await web.listSessions({ metadata: { channel: 'web' } });
    expect(listed.sessions.map((session) => session.sessionId).sort()).toEqual(['web-1', 'web-2']);
    await app.updateSession({ metadata: { channel: 'web', vip: true } });
    await app.updateSession({ sessionName: 'Support chat' });
    const record = await storage.getSession('app-1');
    expect(record).toMatchObject({
      metadata: { channel: 'web', vip: true },
      sessionName: 'Support chat',
    });
    expect(app.sessionName).toBe('Support chat');
    expect(
      (await web.listSessions({ metadata: { vip: true } })).sessions.map((s) => s.sessionId),
    ).toEqual(['app-1']);
    await expect(app.updateSession({})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      app.updateSession({ metadata: { when: new Date() } as never }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(
      () => new Agent({ model: new MockModel(), sessionMetadata: { big: 'x'.repeat(20_000) } }),
    ).toThrow(/sessionMetadata/);
  });
});
