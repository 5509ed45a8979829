/**
 * `buddy export` streams (SPEC §15.1): exporting 50 000 runs (over 100 MB of JSON) keeps the CLI
 * process's peak RSS under 150 MB. The export runs as a real child process on plain Node (the
 * CLI bundled as JavaScript, see `test/measure-rss.ts`) and reports its kernel-measured peak; the
 * test prints it, with the peak of the same process doing nothing (`--help`) for comparison.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredMessage } from '@buddy/core';
import { SqliteStorage } from '@buddy/db-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleMeasuredBin } from '../test/measure-rss.ts';

const SESSIONS = 50;
const RUNS_PER_SESSION = 1000;
const TOTAL = SESSIONS * RUNS_PER_SESSION;
const LIMIT_MB = 150;

const dir = mkdtempSync(join(tmpdir(), 'buddy-export-memory-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function seed(dbFile: string): Promise<void> {
  const storage = new SqliteStorage({ dbFile });
  const filler = 'lorem ipsum dolor sit amet '.repeat(36); // ~1 kB per message
  for (let session = 0; session < SESSIONS; session++) {
    const sessionId = `big-${session}`;
    for (let index = 0; index < RUNS_PER_SESSION; index++) {
      const runId = `${sessionId}-run-${index}`;
      const messages: StoredMessage[] = [
        {
          role: 'user',
          content: `question ${index} ${filler}`,
          id: `${runId}-u`,
          createdAt: index,
          runId,
        },
        {
          role: 'assistant',
          content: `answer ${index} ${filler}`,
          id: `${runId}-a`,
          createdAt: index + 1,
          runId,
        },
      ];
      await storage.appendRun({
        sessionId,
        userId: `user-${session % 10}`,
        run: {
          runId,
          sessionId,
          messages,
          usage: { inputTokens: 1, outputTokens: 1 },
          model: { provider: 'mock', id: 'mock' },
          createdAt: index,
          completedAt: index + 2,
        },
        sessionState: { index },
      });
    }
  }
  await storage.close();
}

/** The peak RSS in MB of one run of the bundled bin. */
async function peakOf(bin: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise((resolve) => child.on('close', resolve));
  return Number(/buddy-test-max-rss-kb=(\d+)/.exec(stderr)?.[1]) / 1024;
}

describe('export memory', () => {
  it(`exports ${TOTAL} runs with a peak RSS under ${LIMIT_MB} MB`, async () => {
    const dbFile = join(dir, 'big.db');
    await seed(dbFile);
    const bin = await bundleMeasuredBin();
    const idle = await peakOf(bin, ['--help']);
    const child = spawn(process.execPath, [bin, 'export', `sqlite:${dbFile}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bytes = 0;
    let lines = 0;
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (const byte of chunk) if (byte === 10) lines++;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(lines).toBe(1 + SESSIONS + TOTAL + 1);
    const peakKb = Number(/buddy-test-max-rss-kb=(\d+)/.exec(stderr)?.[1]);
    const peakMb = peakKb / 1024;
    console.log(
      `buddy export: ${TOTAL} runs, ${(bytes / 1024 / 1024).toFixed(1)} MB of JSONL, peak RSS ${peakMb.toFixed(1)} MB (limit ${LIMIT_MB} MB; buddy --help: ${idle.toFixed(1)} MB)`,
    );
    expect(bytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(peakMb).toBeGreaterThan(0);
    expect(peakMb).toBeLessThan(LIMIT_MB);
  }, 300_000);
});
