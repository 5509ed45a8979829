/**
 * Writing one session, with its runs streamed in, into a storage through the public contract
 * only (so every backend, encrypted or not, validates and stores it its own way): the runs are
 * appended one by one (each with the state it left, so `stateAfter` survives), then the session's
 * own fields (state, name, summary, metadata, paused run) are set where they differ.
 *
 * Each append is atomic, so an interrupted write leaves a prefix of the runs: writing again with
 * `existing` continues after them and duplicates nothing. The session's `createdAt` / `updatedAt`
 * are the source's where the target declares `capabilities.restoresTimes` (every Buddy backend):
 * the last write, after the runs, carries them as `restoreTimes`, so listing order and
 * `prune({ olderThan })` count from the source's times. Elsewhere the target assigns its write
 * time. What the contract never lets one set is assigned by the target: `version`, `incarnation`;
 * and run indexes start at 0 there, so a source whose oldest runs were pruned is re-based (indexes
 * and the summary's `runsCovered` shift down by the first kept index).
 */
import type {
  PendingRunRecord,
  RestoreTimes,
  SessionMetadata,
  SessionRecord,
  SessionStorage,
  SessionSummaryRecord,
  StoredRun,
  UpsertSessionInput,
} from '@buddy/core';
import { jsonEqual } from '@buddy/core/adapter-utils';

/** A session as it travels: what the contract lets one write elsewhere, plus its source times. */
export interface PortableSession {
  sessionId: string;
  userId?: string;
  agentId?: string;
  sessionName?: string;
  sessionState: Record<string, unknown>;
  summary?: SessionSummaryRecord;
  metadata?: SessionMetadata;
  pendingRun?: PendingRunRecord;
  createdAt: number;
  updatedAt: number;
  runCount: number;
}

/** The portable part of a stored record. */
export function toPortable(record: SessionRecord): PortableSession {
  return {
    sessionId: record.sessionId,
    ...(record.userId === undefined ? {} : { userId: record.userId }),
    ...(record.agentId === undefined ? {} : { agentId: record.agentId }),
    ...(record.sessionName === undefined ? {} : { sessionName: record.sessionName }),
    sessionState: record.sessionState,
    ...(record.summary === undefined ? {} : { summary: record.summary }),
    ...(record.metadata === undefined ? {} : { metadata: record.metadata }),
    ...(record.pendingRun === undefined ? {} : { pendingRun: record.pendingRun }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    runCount: record.runCount,
  };
}

/** How `writeSession` writes. */
export interface WriteSessionOptions {
  /** The id to write under; the session's own by default. */
  targetId?: string;
  /**
   * The source index of the session's first kept run, for re-basing (see the module comment).
   * Default: the index of the first run `runs` yields (`runCount` when it yields none).
   */
  firstIndex?: number;
  /** The target's record when it already holds a prefix of the runs: `runs` continues after it. */
  existing?: SessionRecord | undefined;
  /**
   * Give the written session the source's `createdAt` / `updatedAt` where the target declares
   * `restoresTimes` (default `true`); `false` lets the target assign its write time.
   */
  keepTimes?: boolean;
}

/** Whether `storage` keeps the times `upsertSession({ restoreTimes })` gives a session. */
export function restoresTimes(storage: SessionStorage): boolean {
  return storage.capabilities?.restoresTimes === true;
}

/** What `writeSession` did. */
export interface WriteSessionResult {
  record: SessionRecord;
  runsWritten: number;
  /** Whether anything was written (false when the target already held all of it). */
  changed: boolean;
}

function rebased(
  summary: SessionSummaryRecord | undefined,
  firstIndex: number,
): SessionSummaryRecord | undefined {
  if (summary === undefined || firstIndex === 0) return summary;
  return { ...summary, runsCovered: Math.max(0, summary.runsCovered - firstIndex) };
}

/** Writes `session` and `runs` into `target` (see the module comment). */
export async function writeSession(
  target: SessionStorage,
  session: PortableSession,
  runs: AsyncIterable<StoredRun>,
  options: WriteSessionOptions,
): Promise<WriteSessionResult> {
  const sessionId = options.targetId ?? session.sessionId;
  const owner = session.userId === undefined ? {} : { userId: session.userId };
  const atCreation = {
    ...(session.agentId === undefined ? {} : { agentId: session.agentId }),
    ...(session.sessionName === undefined ? {} : { sessionName: session.sessionName }),
    ...(session.metadata === undefined ? {} : { metadata: session.metadata }),
  };
  let exists = options.existing !== undefined;
  // Runs stored before 0.2 have no `stateAfter`: they get the state of the run before them.
  let carried: Record<string, unknown> = options.existing?.sessionState ?? {};
  let runsWritten = 0;
  let firstIndex = options.firstIndex;
  for await (const run of runs) {
    const { index, stateAfter, ...rest } = run;
    firstIndex ??= index;
    const sessionState = stateAfter ?? carried;
    await target.appendRun({
      sessionId,
      ...owner,
      ...(exists ? {} : atCreation),
      run: { ...rest, sessionId },
      sessionState,
    });
    exists = true;
    carried = sessionState;
    runsWritten++;
  }
  const summary = rebased(session.summary, firstIndex ?? session.runCount);
  // Last, after the runs (each append moves `updatedAt`), so the session ends with these times.
  const times: RestoreTimes | undefined =
    options.keepTimes !== false && restoresTimes(target)
      ? { createdAt: session.createdAt, updatedAt: session.updatedAt }
      : undefined;
  const withTimes = times === undefined ? {} : { restoreTimes: times };
  const stored =
    runsWritten === 0 && options.existing !== undefined
      ? options.existing
      : await target.getSession(sessionId);
  if (stored === undefined) {
    const record = await target.upsertSession({
      sessionId,
      ...owner,
      ...atCreation,
      sessionState: session.sessionState,
      ...(summary === undefined ? {} : { summary }),
      ...(session.pendingRun === undefined ? {} : { pendingRun: session.pendingRun }),
      ...withTimes,
    });
    return { record, runsWritten, changed: true };
  }
  const patch: Omit<UpsertSessionInput, 'sessionId'> = {};
  if (session.sessionName !== undefined && session.sessionName !== stored.sessionName) {
    patch.sessionName = session.sessionName;
  }
  if (!jsonEqual(session.sessionState, stored.sessionState))
    patch.sessionState = session.sessionState;
  if (summary !== undefined && !jsonEqual(summary, stored.summary)) patch.summary = summary;
  if (session.metadata !== undefined && !jsonEqual(session.metadata, stored.metadata)) {
    patch.metadata = session.metadata;
  }
  if (session.pendingRun === undefined) {
    if (stored.pendingRun !== undefined) patch.pendingRun = null;
  } else if (!jsonEqual(session.pendingRun, stored.pendingRun)) {
    patch.pendingRun = session.pendingRun;
  }
  const timesDiffer =
    times !== undefined &&
    (stored.createdAt !== times.createdAt || stored.updatedAt !== times.updatedAt);
  if (Object.keys(patch).length === 0 && !timesDiffer) {
    return { record: stored, runsWritten, changed: runsWritten > 0 };
  }
  const record = await target.upsertSession({ sessionId, ...owner, ...patch, ...withTimes });
  return { record, runsWritten, changed: true };
}

/**
 * Keeps the target's listing in the order sessions were written (the source's order), on a target
 * that assigns its own write times: when a session lands in the same millisecond as the one
 * written before it and the listing's tie-break (session id, descending) would put it behind, it
 * is written again a moment later. A target that restores times lists by the source's times
 * already: nothing to do there. Returns the record to compare the next session with.
 */
export async function keepListingOrder(
  target: SessionStorage,
  previous: SessionRecord | undefined,
  current: SessionRecord,
): Promise<SessionRecord> {
  if (restoresTimes(target)) return current;
  let record = current;
  // Bounded: a target whose clock jumped back keeps its order, not this loop.
  for (
    let attempt = 0;
    attempt < 100 &&
    previous !== undefined &&
    (record.updatedAt < previous.updatedAt ||
      (record.updatedAt === previous.updatedAt && record.sessionId < previous.sessionId));
    attempt++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    record = await target.upsertSession({
      sessionId: record.sessionId,
      ...(record.userId === undefined ? {} : { userId: record.userId }),
    });
  }
  return record;
}
