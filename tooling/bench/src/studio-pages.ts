/**
 * Buddy Studio's server time for its pages on a big SQLite file: 10,000 sessions (100 users) and
 * one session with 10,000 runs. Each request goes through `studio.fetch` (routing, validation,
 * storage, JSON), the same handler `listen()` serves, without the socket. The Studio reads one
 * keyset page of sessions and one `getRuns({ fromIndex, limit })` page of runs, so these times
 * must not depend on how much is stored. Target: first page < 50 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredRun } from '@buddy/core';
import { SqliteStorage } from '@buddy/db-sqlite';
import { createStudio } from '@buddy/studio';
import { type Summary, summarize } from './stats.ts';
import { seedSession } from './turn-overhead.ts';

export interface StudioPageResult extends Summary {
  request: string;
}

export interface StudioPagesReport {
  sessions: number;
  runsInLongSession: number;
  rows: StudioPageResult[];
}

function oneRun(sessionId: string, index: number): Omit<StoredRun, 'index'> {
  const runId = `run-${index}`;
  const now = Date.now();
  return {
    runId,
    sessionId,
    messages: [
      { role: 'user', content: `Question ${index}`, id: `${runId}-u`, createdAt: now, runId },
      { role: 'assistant', content: `Answer ${index}`, id: `${runId}-a`, createdAt: now, runId },
    ],
    usage: { inputTokens: 12, outputTokens: 6 },
    model: { provider: 'mock', id: 'mock-model' },
    createdAt: now,
    completedAt: now,
  };
}

export async function measureStudioPages(options: {
  sessions: number;
  longSessionRuns: number;
  warmup: number;
  requests: number;
}): Promise<StudioPagesReport> {
  const dir = mkdtempSync(join(tmpdir(), 'buddy-bench-studio-'));
  const storage = new SqliteStorage({ dbFile: join(dir, 'studio.db') });
  try {
    for (let start = 0; start < options.sessions; start += 500) {
      const writes: Promise<unknown>[] = [];
      for (let index = start; index < Math.min(options.sessions, start + 500); index++) {
        const sessionId = `session-${index}`;
        writes.push(
          storage.appendRun({
            sessionId,
            userId: `user-${index % 100}`,
            sessionName: `Session ${index}`,
            run: oneRun(sessionId, 0),
            sessionState: { cart: ['milk'], visits: index },
          }),
        );
      }
      await Promise.all(writes);
    }
    await seedSession(storage, 'long-session', options.longSessionRuns);

    const studio = createStudio({ storage });
    const base = 'http://127.0.0.1';
    const secondCursor = (
      (await (await studio.fetch(new Request(`${base}/api/sessions?limit=20`))).json()) as {
        nextCursor?: string;
      }
    ).nextCursor;
    const lastFrom = Math.max(0, options.longSessionRuns - 20);
    const requests: { name: string; path: string }[] = [
      { name: 'sessions, first page (all users)', path: '/api/sessions?limit=20' },
      {
        name: 'sessions, second page (keyset cursor)',
        path: `/api/sessions?limit=20&cursor=${encodeURIComponent(secondCursor ?? '')}`,
      },
      { name: "sessions, one user's first page", path: '/api/sessions?userId=user-7&limit=20' },
      { name: 'session record', path: '/api/sessions/long-session' },
      {
        name: `runs, latest page of ${options.longSessionRuns.toLocaleString('en-US')}`,
        path: `/api/sessions/long-session/runs?from=${lastFrom}&limit=20`,
      },
    ];
    const samples = requests.map(() => [] as number[]);
    const once = async (path: string) => {
      const response = await studio.fetch(new Request(`${base}${path}`));
      if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status}`);
      await response.arrayBuffer();
    };
    for (let index = 0; index < options.warmup; index++) {
      for (const request of requests) await once(request.path);
    }
    // Interleaved, so background load affects every row alike.
    for (let index = 0; index < options.requests; index++) {
      for (const [position, request] of requests.entries()) {
        const started = process.hrtime.bigint();
        await once(request.path);
        samples[position]?.push(Number(process.hrtime.bigint() - started) / 1000);
      }
    }
    await studio.close();
    return {
      sessions: options.sessions,
      runsInLongSession: options.longSessionRuns,
      rows: requests.map((request, position) => ({
        request: request.name,
        ...summarize(samples[position] ?? []),
      })),
    };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
