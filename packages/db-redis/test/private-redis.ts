/**
 * Private `redis-server` processes for fault and Cluster tests: each on a free loopback port, in
 * its own temp dir, started and stopped by pid (never by name). In CI a missing `redis-server`
 * fails the run; locally the tests that need one skip with a visible notice.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/** Whether `redis-server` and `redis-cli` can be run. Throws in CI when they cannot. */
export function requireRedisServerBinary(): boolean {
  const server = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  if (server.status === 0 && cli.status === 0) return true;
  const problem = 'redis-server and redis-cli must be on PATH to start private servers';
  if (isCi()) throw new Error(`${problem} (required in CI)`);
  // biome-ignore lint/suspicious/noConsole: the skip notice must be visible
  console.warn(`[@buddy/db-redis] SKIPPING fault and Cluster tests: ${problem}`);
  return false;
}

/** A free loopback TCP port (and, for Cluster nodes, its bus port `port + 10000` too). */
export async function freePort(withBusPort = false): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (!withBusPort) return port;
    if (port + 10_000 > 65_535) continue;
    const busFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 10_000, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (busFree) return port;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until the server on `port` answers PING (or fails after `timeoutMs`). */
export async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not yet
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer`);
    await sleep(50);
  }
}

export interface PrivateRedisOptions {
  /** `--cluster-enabled yes --cluster-node-timeout 2000`. */
  cluster?: boolean;
  /** Persist every write (`appendonly yes`, `appendfsync always`), so a restart keeps the data. */
  persistent?: boolean;
}

/** One private `redis-server`. */
export class PrivateRedis {
  readonly port: number;
  readonly dir: string;
  readonly #options: PrivateRedisOptions;
  #process: ChildProcess | undefined;

  private constructor(port: number, dir: string, options: PrivateRedisOptions) {
    this.port = port;
    this.dir = dir;
    this.#options = options;
  }

  /** Starts a server on a free port in a new temp dir and waits until it answers. */
  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const port = await freePort(options.cluster === true);
    const dir = mkdtempSync(join(tmpdir(), `buddy-redis-${port}-`));
    const server = new PrivateRedis(port, dir, options);
    await server.#spawn();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get isRunning(): boolean {
    const child = this.#process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async #spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.#options.persistent === true || this.#options.cluster === true ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--protected-mode',
      'no',
    ];
    if (this.#options.cluster === true) {
      args.push('--cluster-enabled', 'yes', '--cluster-node-timeout', '2000');
      args.push('--cluster-config-file', join(this.dir, 'nodes.conf'));
    }
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.#process = child;
    await waitForPing(this.port);
  }

  /** Sends `signal` to this server's process (by pid). */
  signal(signal: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid !== undefined && this.isRunning) process.kill(pid, signal);
  }

  /** SIGKILL, and waits for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (child === undefined || !this.isRunning) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await exited;
  }

  /** Starts the server again on the same port and dir (after `kill`). */
  async restart(): Promise<void> {
    if (this.isRunning) await this.kill();
    await this.#spawn();
  }

  /** Kills the server and removes its dir. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
