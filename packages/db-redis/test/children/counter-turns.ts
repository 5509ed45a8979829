/**
 * Child process of `cross-process.test.ts`: runs `turns` Agent turns on one shared session. Each
 * turn calls the `increment` tool once (first model call), then answers (second model call).
 *
 * argv: url prefix sessionId userId turns cacheSession(true|false)
 */
import { Agent, silentLogger, tool } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { z } from 'zod';
import { RedisStorage } from '../../src/redis-storage.ts';

const [url, prefix, sessionId, userId, turns, cacheSession] = process.argv.slice(2);
if (url === undefined || prefix === undefined || sessionId === undefined || userId === undefined) {
  throw new Error('usage: counter-turns.ts url prefix sessionId userId turns cacheSession');
}

const increment = tool({
  name: 'increment',
  description: 'Adds one to the counter in the session state.',
  parameters: z.object({}),
  execute: (_args, context) => {
    const next = Number(context.sessionState.counter ?? 0) + 1;
    context.sessionState.counter = next;
    return String(next);
  },
});

const model = new MockModel({
  respond: (request) =>
    request.messages.at(-1)?.role === 'tool'
      ? 'Incremented.'
      : { toolCalls: [{ name: 'increment', arguments: {} }] },
});

const storage = new RedisStorage({ url, prefix });
const agent = new Agent({
  model,
  storage,
  sessionId,
  userId,
  tools: [increment],
  cacheSession: cacheSession === 'true',
  logger: silentLogger,
});
try {
  for (let turn = 0; turn < Number(turns); turn++) {
    await agent.run(`turn ${turn} from ${process.pid}`);
  }
  process.stdout.write('DONE\n');
} finally {
  await storage.close();
}
