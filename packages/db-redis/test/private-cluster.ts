/**
 * A real local Redis Cluster for tests: 6 × `redis-server --cluster-enabled yes
 * --cluster-node-timeout 2000` on free loopback ports, each in its own temp dir, joined with
 * `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes` (3 masters, 3 replicas), and
 * stopped by pid.
 */
import { spawn } from 'node:child_process';
import { Cluster, type Redis } from 'ioredis';
import { PrivateRedis } from './private-redis.ts';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} exited ${code}: ${output}`)),
    );
  });
}

/** One node of the cluster as `CLUSTER NODES` reports it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'slave';
  failed: boolean;
  masterId: string | undefined;
}

/** Six private servers joined into one cluster. */
export class PrivateCluster {
  readonly servers: PrivateRedis[];

  private constructor(servers: PrivateRedis[]) {
    this.servers = servers;
  }

  /** Starts six nodes, creates the cluster and waits until every node reports it healthy. */
  static async start(): Promise<PrivateCluster> {
    const servers: PrivateRedis[] = [];
    try {
      for (let index = 0; index < 6; index++)
        servers.push(await PrivateRedis.start({ cluster: true }));
      const cluster = new PrivateCluster(servers);
      await run('redis-cli', [
        '--cluster',
        'create',
        ...servers.map((server) => `127.0.0.1:${server.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ]);
      await cluster.waitHealthy();
      return cluster;
    } catch (error) {
      for (const server of servers) await server.stop();
      throw error;
    }
  }

  /** The nodes a client starts from. */
  get nodes(): { host: string; port: number }[] {
    return this.servers
      .filter((server) => server.isRunning)
      .map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  /** A Cluster client on these nodes (the caller quits it). */
  client(): Cluster {
    const client = new Cluster(this.nodes, {
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      redisOptions: { commandTimeout: 5_000, maxRetriesPerRequest: 2 },
    });
    client.on('error', () => {});
    return client;
  }

  /** `CLUSTER NODES` as seen from the first running node. */
  async topology(): Promise<ClusterNodeInfo[]> {
    const server = this.servers.find((candidate) => candidate.isRunning);
    if (server === undefined) throw new Error('no node is running');
    const text = await run('redis-cli', ['-p', String(server.port), 'cluster', 'nodes']);
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, master] = line.split(' ');
        const port = Number(String(address).split('@')[0]?.split(':')[1]);
        return {
          id: String(id),
          port,
          role: String(flags).includes('master') ? 'master' : 'slave',
          failed: /fail/.test(String(flags)),
          masterId: master === '-' ? undefined : master,
        };
      });
  }

  /** Waits until every running node says `cluster_state:ok` and every replica is in sync. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let healthy = true;
      for (const server of this.servers.filter((candidate) => candidate.isRunning)) {
        const info = await run('redis-cli', ['-p', String(server.port), 'cluster', 'info']).catch(
          () => '',
        );
        if (!info.includes('cluster_state:ok')) healthy = false;
        const replication = await run('redis-cli', [
          '-p',
          String(server.port),
          'info',
          'replication',
        ]).catch(() => '');
        if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) {
          healthy = false;
        }
      }
      if (healthy) return;
      if (Date.now() > deadline) throw new Error('the cluster did not become healthy');
      await sleep(200);
    }
  }

  /** The running server holding `slot` as master. */
  async masterOfSlot(slot: number): Promise<PrivateRedis> {
    const server = this.servers.find((candidate) => candidate.isRunning) as PrivateRedis;
    const slots = JSON.parse(
      await run('redis-cli', ['-p', String(server.port), '--json', 'cluster', 'slots']),
    ) as [number, number, [string, number, string]][];
    for (const [from, to, [, port]] of slots) {
      if (slot >= from && slot <= to) {
        const master = this.servers.find((candidate) => candidate.port === Number(port));
        if (master !== undefined) return master;
      }
    }
    throw new Error(`no master holds slot ${slot}`);
  }

  /** Deletes every key under `prefix` on every master (SCAN: tests only). */
  async deletePrefix(prefix: string): Promise<void> {
    const client = this.client();
    try {
      await Promise.all(
        client.nodes('master').map(async (node: Redis) => {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
            cursor = next;
            for (const key of keys) await node.del(key);
          } while (cursor !== '0');
        }),
      );
    } finally {
      client.disconnect();
    }
  }

  /** Kills every node and removes their dirs. */
  async stop(): Promise<void> {
    for (const server of this.servers) await server.stop();
  }
}
