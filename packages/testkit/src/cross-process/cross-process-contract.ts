/**
 * `describeCrossProcessContract`: the proof that a storage keeps SPEC §4.2 across real OS
 * processes. Every backend runs it with only a factory module:
 *
 * ```ts
 * // test/cross-process-storage.ts — imported by the parent and by every child process
 * export function createStorage(config: { dbFile: string }) { return new SqliteStorage(config); }
 *
 * // src/cross-process.test.ts
 * describeCrossProcessContract('SqliteStorage', {
 *   storageModule: new URL('../test/cross-process-storage.ts', import.meta.url),
 *   setup: async () => ({ dbFile: tempFile() }),
 * });
 * ```
 *
 * Cases: N processes × M turns on one session lose nothing (exact run count and counter,
 * contiguous indexes, unique run ids, every turn saw the previous turn's state); a process killed
 * with SIGKILL mid-turn leaves no half run and the next turn proceeds after the lease expires; a
 * stalled lease holder (SIGSTOP) is fenced: the run that took over is kept and the stalled run is
 * never stored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, type SessionStorage } from '@buddy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MockModel } from '../mock-model.ts';
import { uniqueId } from '../storage/session-storage-fixtures.ts';

/** JSON the children receive: where the data lives (a file, a key prefix, a schema). */
export type CrossProcessConfig = Record<string, unknown>;

/** What a backend supplies to `describeCrossProcessContract`. */
export interface CrossProcessHarness {
  /**
   * A module exporting `createStorage(config): SessionStorage | Promise<SessionStorage>`. The
   * parent and every child import it; a `.ts` module is loaded with `tsx`.
   */
  storageModule: string | URL;
  /** A fresh, isolated place for one case, as JSON for `createStorage`. */
  setup(): Promise<CrossProcessConfig>;
  /** Removes what `setup` made. */
  teardown?(config: CrossProcessConfig): Promise<void>;
  /** Processes in the concurrency case. Default 4. */
  processes?: number;
  /** Turns per process in the concurrency case. Default 50. */
  turns?: number;
  /**
   * Node options for the children. Default: `--conditions=@buddy/source` (workspace packages
   * from source) and `--import tsx` when the child or the storage module is TypeScript.
   */
  execArgv?: string[];
  /** Milliseconds each case may take. Default 120 000. */
  timeoutMs?: number;
}

interface ChildJob {
  mode: 'turns' | 'hold' | 'stall' | 'patch' | 'pause' | 'resume';
  approvalId?: string;
  config: CrossProcessConfig;
  sessionId: string;
  label: string;
  turns?: number;
  cacheSession?: boolean;
  ttlMs: number;
  waitMs: number;
  stallMs?: number;
}

const childUrl = new URL(
  import.meta.url.endsWith('.ts') ? './child.ts' : './child.js',
  import.meta.url,
);

function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return module.startsWith('file:') ? module : pathToFileURL(module).href;
}

function output(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

/** Resolves with the child's last stdout line when it exits 0; rejects with its stderr otherwise. */
function finished(child: ChildProcess): Promise<string> {
  const seen = output(child);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const lines = seen.stdout().trim().split('\n');
      if (code === 0) resolve(lines.at(-1) ?? '');
      else reject(new Error(`child exited with ${code ?? signal}: ${seen.stderr()}`));
    });
  });
}

/** Resolves when the child prints `line`; rejects if it exits first. */
function printed(child: ChildProcess, line: string): Promise<void> {
  const seen = output(child);
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', () => {
      if (seen.stdout().split('\n').includes(line)) resolve();
    });
    child.on('exit', (code) =>
      reject(new Error(`child exited (${code}) before printing ${line}: ${seen.stderr()}`)),
    );
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.on('exit', () => resolve()));
}

/** Registers the cross-process cases for one backend (see the module comment). */
export function describeCrossProcessContract(name: string, harness: CrossProcessHarness): void {
  const processes = harness.processes ?? 4;
  const turns = harness.turns ?? 50;
  const timeout = harness.timeoutMs ?? 120_000;
  const storageModule = moduleUrl(harness.storageModule);
  const typescript = childUrl.pathname.endsWith('.ts') || storageModule.endsWith('.ts');
  const execArgv = harness.execArgv ?? [
    '--conditions=@buddy/source',
    ...(typescript ? ['--import', 'tsx'] : []),
  ];

  describe(`cross-process contract: ${name}`, () => {
    const children: ChildProcess[] = [];
    const storages: SessionStorage[] = [];
    const configs: CrossProcessConfig[] = [];

    afterEach(async () => {
      for (const child of children.splice(0)) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGCONT');
          child.kill('SIGKILL');
          await exited(child);
        }
      }
      for (const storage of storages.splice(0)) await storage.close();
      for (const config of configs.splice(0)) await harness.teardown?.(config);
    });

    async function place(): Promise<CrossProcessConfig> {
      const config = await harness.setup();
      configs.push(config);
      return config;
    }

    async function open(config: CrossProcessConfig): Promise<SessionStorage> {
      const module = (await import(storageModule)) as {
        createStorage(config: CrossProcessConfig): SessionStorage | Promise<SessionStorage>;
      };
      const storage = await module.createStorage(config);
      storages.push(storage);
      return storage;
    }

    function start(job: ChildJob): ChildProcess {
      const child = spawn(
        process.execPath,
        [...execArgv, fileURLToPath(childUrl), JSON.stringify({ ...job, storageModule })],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      return child;
    }

    it(
      `loses nothing when ${processes} processes run ${turns} turns each on one session`,
      async () => {
        const config = await place();
        const sessionId = uniqueId('shared');
        const labels = Array.from({ length: processes }, (_, index) => `p${index}`);
        const outputs = await Promise.all(
          labels.map((label, index) =>
            finished(
              start({
                mode: 'turns',
                config,
                sessionId,
                label,
                turns,
                // Half the processes keep the session cached between turns, half read it each time.
                cacheSession: index % 2 === 0,
                ttlMs: 10_000,
                waitMs: 120_000,
              }),
            ),
          ),
        );
        const total = processes * turns;
        const reported = outputs.flatMap(
          (line) => (JSON.parse(line) as { runIds: string[] }).runIds,
        );

        const storage = await open(config);
        const record = await storage.getSession(sessionId);
        expect(record).toMatchObject({ runCount: total, sessionState: { counter: total } });
        const runs = await storage.getRuns({ sessionId });
        expect(runs).toHaveLength(total);
        expect(runs.map((run) => run.index)).toEqual(Array.from({ length: total }, (_, i) => i));
        const runIds = runs.map((run) => run.runId);
        expect(new Set(runIds).size).toBe(total);
        expect(new Set(runIds)).toEqual(new Set(reported));
        // Every turn saw the state the previous turn stored, whichever process ran it.
        expect(runs.map((run) => run.messages[2]?.content)).toEqual(
          Array.from({ length: total }, (_, index) => `counter is now ${index + 1}`),
        );
        expect(runs.map((run) => run.stateAfter?.counter)).toEqual(
          Array.from({ length: total }, (_, index) => index + 1),
        );
        // Each process kept its own turn order.
        for (const label of labels) {
          const own = runs
            .map((run) => run.messages[0]?.content ?? '')
            .filter((text) => text.startsWith(`${label} `));
          expect(own).toEqual(Array.from({ length: turns }, (_, turn) => `${label} turn ${turn}`));
        }
      },
      timeout,
    );

    it(
      'keeps the session whole when a process is SIGKILLed mid-turn, and the next turn proceeds after the lease expires',
      async () => {
        const config = await place();
        const storage = await open(config);
        const sessionId = uniqueId('crash');
        const before = new Agent({
          model: new MockModel({ replies: ['first answer'] }),
          sessionId,
          storage,
          sessionState: { step: 1 },
        });
        await before.run('first question');
        const stored = await storage.getSession(sessionId);

        const holder = start({
          mode: 'hold',
          config,
          sessionId,
          label: 'holder',
          ttlMs: 1000,
          waitMs: 10_000,
        });
        await printed(holder, 'mid-turn');
        holder.kill('SIGKILL');
        await exited(holder);

        // No half run: the counters and the state are those of before the crash.
        expect(await storage.getSession(sessionId)).toEqual(stored);
        expect(await storage.getRuns({ sessionId })).toHaveLength(1);

        // A new agent waits for the dead holder's lease to expire, then runs normally.
        const after = new Agent({
          model: new MockModel({ replies: ['second answer'] }),
          sessionId,
          storage: await open(config),
          sessionLease: { ttlMs: 1000, waitMs: 20_000 },
        });
        expect((await after.run('second question')).content).toBe('second answer');
        const runs = await storage.getRuns({ sessionId });
        expect(runs.map((run) => run.messages[0]?.content)).toEqual([
          'first question',
          'second question',
        ]);
        expect(runs.map((run) => run.index)).toEqual([0, 1]);
      },
      timeout,
    );

    it(
      'fences a stalled lease holder: the run that took over is kept, the stalled run is never stored',
      async () => {
        const config = await place();
        const storage = await open(config);
        const sessionId = uniqueId('stall');
        const seed = new Agent({
          model: new MockModel({ replies: ['seeded'] }),
          sessionId,
          storage,
          sessionState: { counter: 0 },
        });
        await seed.run('seed');

        const stalled = start({
          mode: 'stall',
          config,
          sessionId,
          label: 'stalled',
          ttlMs: 1000,
          waitMs: 10_000,
          stallMs: 3000,
        });
        const result = finished(stalled);
        await printed(stalled, 'mid-turn');
        // The holder stops dead (no renewals, no progress) while it holds the lease.
        stalled.kill('SIGSTOP');

        const taker = new Agent({
          model: new MockModel({ replies: ['took over'] }),
          sessionId,
          storage: await open(config),
          sessionLease: { ttlMs: 1000, waitMs: 20_000 },
        });
        // The taker records its own marker in the state.
        const response = await taker.run('take over', { sessionState: { taker: true } });
        expect(response.content).toBe('took over');

        stalled.kill('SIGCONT');
        expect(JSON.parse(await result)).toEqual({ outcome: 'failed', code: 'CONFLICT' });

        const runs = await storage.getRuns({ sessionId });
        expect(runs.map((run) => run.messages[0]?.content)).toEqual(['seed', 'take over']);
        const record = await storage.getSession(sessionId);
        expect(record).toMatchObject({ runCount: 2, sessionState: { counter: 0, taker: true } });
      },
      timeout,
    );

    it(
      'applies every update_session_state patch of two processes (50 each) to one session',
      async () => {
        const config = await place();
        const sessionId = uniqueId('patches');
        await Promise.all(
          ['left', 'right'].map((label) =>
            finished(
              start({
                mode: 'patch',
                config,
                sessionId,
                label,
                turns: 50,
                ttlMs: 10_000,
                waitMs: 120_000,
              }),
            ),
          ),
        );
        const storage = await open(config);
        const state = (await storage.getSession(sessionId))?.sessionState ?? {};
        for (const label of ['left', 'right']) {
          for (let turn = 0; turn < 50; turn++)
            expect(state[`${label}_${turn}`], `${label} ${turn}`).toBe(true);
        }
        expect((await storage.getRuns({ sessionId })).length).toBe(100);
      },
      timeout,
    );

    it(
      'pauses a run for approval in one process and completes it once in another',
      async () => {
        const config = await place();
        const sessionId = uniqueId('approval');
        const paused = JSON.parse(
          await finished(
            start({
              mode: 'pause',
              config,
              sessionId,
              label: 'first',
              ttlMs: 10_000,
              waitMs: 20_000,
            }),
          ),
        ) as {
          status: string;
          runId: string;
          approvals: { approvalId: string; toolName: string }[];
        };
        expect(paused.status).toBe('awaiting-approval');
        expect(paused.approvals.map((entry) => entry.toolName)).toEqual(['checkout']);
        const storage = await open(config);
        expect((await storage.getSession(sessionId))?.pendingRun?.runId).toBe(paused.runId);
        // A new run while it waits is refused.
        const other = new Agent({ model: new MockModel({ replies: ['no'] }), sessionId, storage });
        await expect(other.run('something else')).rejects.toMatchObject({ code: 'SESSION_BUSY' });
        const resumed = JSON.parse(
          await finished(
            start({
              mode: 'resume',
              config,
              sessionId,
              label: 'second',
              approvalId: paused.approvals[0]?.approvalId as string,
              ttlMs: 10_000,
              waitMs: 20_000,
            }),
          ),
        ) as { status: string; runId: string; content: string };
        expect(resumed).toEqual({
          status: 'completed',
          runId: paused.runId,
          content: 'checkout done by second',
        });
        const record = await storage.getSession(sessionId);
        expect(record?.pendingRun).toBeUndefined();
        expect(record?.sessionState).toMatchObject({ checkouts: 1, paidBy: 'second' });
        const runs = await storage.getRuns({ sessionId });
        expect(runs.map((run) => run.runId)).toEqual([paused.runId]);
        expect(runs[0]?.status === undefined || runs[0]?.status === 'completed').toBe(true);
      },
      timeout,
    );
  });
}
