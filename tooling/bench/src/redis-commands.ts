/**
 * What a turn costs on Redis: commands per turn (from the server's `INFO commandstats`, so
 * nothing is guessed) and round trips per turn (request bursts on our own client's socket: a
 * burst starts with the first write after a reply arrived).
 */
import { Agent, silentLogger } from '@buddy/core';
import { RedisStorage } from '@buddy/db-redis';
import { MockModel } from '@buddy/testkit';
import { Redis } from 'ioredis';

function parseCommandStats(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) calls.set(match[1], Number(match[2]));
  }
  return calls;
}

export async function measureRedisCommandsPerTurn(
  url: string,
  deletePrefix: (prefix: string) => Promise<void>,
  turns: number,
): Promise<{ turns: number; perTurn: Record<string, number>; roundTripsPerTurn: number }> {
  const client = new Redis(url);
  const admin = new Redis(url);
  const prefix = `buddy-bench-commands:${process.pid}:${Date.now()}:`;
  const storage = new RedisStorage({ client, prefix });
  try {
    const agent = new Agent({
      model: new MockModel({ respond: () => 'ok' }),
      storage,
      sessionId: 'commands',
      userId: 'bench-user',
      addHistoryToMessages: true,
      numHistoryRuns: 3,
      logger: silentLogger,
    });
    await agent.run('warm up'); // loads scripts, creates the session

    let roundTrips = 0;
    let startsBurst = true;
    const socket = (client as unknown as { stream: NodeJS.WritableStream & NodeJS.EventEmitter })
      .stream;
    const originalWrite = socket.write.bind(socket);
    socket.write = ((...args: Parameters<typeof socket.write>) => {
      if (startsBurst) {
        roundTrips++;
        startsBurst = false;
      }
      return originalWrite(...args);
    }) as typeof socket.write;
    const onData = () => {
      startsBurst = true;
    };
    socket.on('data', onData);

    const before = parseCommandStats(await admin.info('commandstats'));
    for (let index = 0; index < turns; index++) await agent.run(`turn ${index}`);
    const after = parseCommandStats(await admin.info('commandstats'));
    socket.off('data', onData);
    socket.write = originalWrite;

    const perTurn: Record<string, number> = {};
    for (const [command, calls] of after) {
      const delta = calls - (before.get(command) ?? 0);
      // `info` itself is the admin connection's; everything else is the agent's.
      if (delta > 0 && command !== 'info') perTurn[command] = delta / turns;
    }
    return { turns, perTurn, roundTripsPerTurn: roundTrips / turns };
  } finally {
    await storage.close();
    await deletePrefix(prefix);
    client.disconnect();
    admin.disconnect();
  }
}
