/**
 * Reading a storage for export and migration, in constant memory per session: sessions one at a
 * time, oldest update first (so that writing them in that order elsewhere gives the same listing
 * order there), and each session's runs page by page.
 *
 * Listing is newest first with a keyset cursor, so a first pass keeps the cursor of every page
 * (one per `PAGE_SIZE` sessions) and a second pass walks the pages from the last. The ids already
 * handed out are remembered, so a session updated while the walk goes on (it moves to the front)
 * is never handed out twice: memory grows with the number of sessions (ids only), never with
 * their runs.
 */
import type { SessionInfo, SessionRecord, SessionStorage, StoredRun } from '@buddy/core';

/** Sessions per listing page. */
export const PAGE_SIZE = 500;
/** Runs per read. */
export const RUN_PAGE_SIZE = 200;

/** How many sessions a listing holds, and the page cursors to walk it backwards. */
export interface SessionWalk {
  total: number;
  sessions: AsyncIterable<SessionInfo>;
}

/** Every session (of `userId`, when given) as the listing gives them, newest first, page by page. */
export async function* listEverySession(
  storage: SessionStorage,
  userId?: string,
): AsyncGenerator<SessionInfo> {
  let cursor: string | undefined;
  do {
    const page = await storage.listSessions({
      ...(userId === undefined ? {} : { userId }),
      limit: PAGE_SIZE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield* page.sessions;
    cursor = page.nextCursor;
  } while (cursor !== undefined);
}

/** Every session (of `userId`, when given), oldest update first. */
export async function walkSessionsOldestFirst(
  storage: SessionStorage,
  userId: string | undefined,
): Promise<SessionWalk> {
  const filter = userId === undefined ? {} : { userId };
  const cursors: (string | undefined)[] = [undefined];
  let total = 0;
  for (;;) {
    const cursor = cursors.at(-1);
    const page = await storage.listSessions({
      ...filter,
      limit: PAGE_SIZE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    total += page.sessions.length;
    if (page.nextCursor === undefined) break;
    cursors.push(page.nextCursor);
  }
  async function* sessions(): AsyncGenerator<SessionInfo> {
    const seen = new Set<string>();
    for (let index = cursors.length - 1; index >= 0; index--) {
      const cursor = cursors[index];
      const page = await storage.listSessions({
        ...filter,
        limit: PAGE_SIZE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const info of page.sessions.reverse()) {
        if (seen.has(info.sessionId)) continue;
        seen.add(info.sessionId);
        yield info;
      }
    }
  }
  return { total, sessions: sessions() };
}

/**
 * The runs of `record` from `fromIndex` (the first one kept, see `firstKeptIndex`, or later) up
 * to the record's `runCount`: runs appended after the record was read are left for the next read.
 */
export async function* readRuns(
  storage: SessionStorage,
  record: SessionRecord,
  fromIndex: number,
): AsyncGenerator<StoredRun> {
  let next = fromIndex;
  while (next < record.runCount) {
    const runs = await storage.getRuns({
      sessionId: record.sessionId,
      fromIndex: next,
      limit: Math.min(RUN_PAGE_SIZE, record.runCount - next),
    });
    if (runs.length === 0) return;
    for (const run of runs) {
      if (run.index >= record.runCount) return;
      yield run;
    }
    next = (runs.at(-1)?.index ?? next) + 1;
  }
}

/**
 * The index of the oldest run kept (older ones were pruned); `runCount` when none is. The runs
 * kept are always the newest ones (a contiguous tail), and `getRuns({ fromIndex, limit })` reads
 * an index window, so a binary search finds it in O(log runCount) one-run reads.
 */
export async function firstKeptIndex(
  storage: SessionStorage,
  record: SessionRecord,
): Promise<number> {
  const has = async (index: number) =>
    (await storage.getRuns({ sessionId: record.sessionId, fromIndex: index, limit: 1 })).length > 0;
  if (record.runCount === 0 || (await has(0))) return 0;
  let low = 0; // known missing
  let high = record.runCount; // known kept (or the end)
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await has(middle)) high = middle;
    else low = middle;
  }
  return high;
}
