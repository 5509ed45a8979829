/**
 * A throwaway local Redis Cluster for the bench's cluster row: 6 × `redis-server
 * --cluster-enabled yes` on free loopback ports in a temp dir (3 masters, 3 replicas, joined with
 * `redis-cli --cluster create`), stopped by pid. `undefined` when the binaries are missing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchCluster {
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function cli(args: string[]): string {
  return spawnSync('redis-cli', args, { encoding: 'utf8' }).stdout ?? '';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startBenchCluster(): Promise<BenchCluster | undefined> {
  const hasBinaries =
    spawnSync('redis-server', ['--version']).status === 0 &&
    spawnSync('redis-cli', ['--version']).status === 0;
  if (!hasBinaries) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'buddy-bench-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    while (ports.length < 6) {
      const port = await freePort();
      if (port + 10_000 <= 65_535 && !ports.includes(port)) ports.push(port);
    }
    for (const port of ports) {
      children.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--cluster-enabled',
            'yes',
            '--cluster-node-timeout',
            '2000',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      for (let attempt = 0; cli(['-p', String(port), 'ping']).trim() !== 'PONG'; attempt++) {
        if (attempt > 200) throw new Error(`redis-server on ${port} did not start`);
        await sleep(50);
      }
    }
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    if (created.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}`);
    for (let attempt = 0; ; attempt++) {
      if (
        ports.every((port) =>
          cli(['-p', String(port), 'cluster', 'info']).includes('cluster_state:ok'),
        )
      )
        break;
      if (attempt > 300) throw new Error('the bench cluster did not become healthy');
      await sleep(100);
    }
    return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
