/**
 * Child process of `cross-process.test.ts`: starts one Agent turn whose model never answers in
 * time, prints `MID_TURN` once the lease is held and the model call is in flight, and waits to be
 * killed.
 *
 * argv: url prefix sessionId userId
 */
import { Agent, silentLogger } from '@buddy/core';
import { MockModel } from '@buddy/testkit';
import { RedisStorage } from '../../src/redis-storage.ts';

const [url, prefix, sessionId, userId] = process.argv.slice(2);
if (url === undefined || prefix === undefined || sessionId === undefined || userId === undefined) {
  throw new Error('usage: stalled-turn.ts url prefix sessionId userId');
}

const model = new MockModel({ latencyMs: 120_000, respond: () => 'too late' });
const agent = new Agent({
  model,
  storage: new RedisStorage({ url, prefix }),
  sessionId,
  userId,
  sessionState: { stalled: true },
  sessionLease: { ttlMs: 1_000 },
  logger: silentLogger,
});
agent.run('this turn never completes').catch(() => {});
const poll = setInterval(() => {
  // The request is recorded before the latency starts: the lease is held, the run is mid-model-call.
  if (model.requests.length > 0) {
    clearInterval(poll);
    process.stdout.write('MID_TURN\n');
  }
}, 5);
