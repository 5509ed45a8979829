/**
 * Checks the lines of an export file before `buddy import` writes anything: each line is JSON
 * that `ExportRecordSchema` accepts, the storage contract's write validators accept its values
 * (so no write fails half way for a bad value), and the lines are in order (the header first;
 * a session's runs right after it, with consecutive indexes ending at `runCount - 1`; the end
 * line last, with the right counts). A problem is `INVALID_ARGUMENT` naming the line number.
 */
import {
  BuddyError,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportMemory,
  type ExportRecord,
  ExportRecordSchema,
  type ExportRun,
  type ExportSession,
  type UserMemory,
} from '@buddy/core';
import {
  assertId,
  assertOptionalId,
  assertPendingRunRecord,
  assertRestoreTimes,
  assertRunInput,
  assertSessionMetadata,
  assertSessionName,
  assertSessionState,
  assertSessionSummaryRecord,
  normalizeUpsertMemoryInput,
} from '@buddy/core/adapter-utils';
import { cliFailure } from './cli-errors.ts';

function lineError(lineNumber: number, message: string, cause?: unknown): BuddyError {
  return cliFailure('INVALID_ARGUMENT', `line ${lineNumber}: ${message}`, cause);
}

/** Parses one line into a record, or `undefined` for a blank line. */
export function parseExportLine(text: string, lineNumber: number): ExportRecord | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw lineError(lineNumber, `not valid JSON (${(error as Error).message})`, error);
  }
  const header = value as { format?: unknown; version?: unknown } | null;
  if (
    typeof header === 'object' &&
    header !== null &&
    header.format === EXPORT_FORMAT &&
    header.version !== EXPORT_VERSION
  ) {
    throw lineError(
      lineNumber,
      `export format version ${JSON.stringify(header.version)} is not supported (this buddy reads version ${EXPORT_VERSION})`,
    );
  }
  const parsed = ExportRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw lineError(lineNumber, `not a buddy export record: ${path}${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function check(lineNumber: number, assertion: () => void): void {
  try {
    assertion();
  } catch (error) {
    if (BuddyError.is(error)) throw lineError(lineNumber, error.message, error);
    throw error;
  }
}

/** Checks a session line's values with the contract's write validators. */
export function checkSessionValues(session: ExportSession, lineNumber: number): void {
  check(lineNumber, () => {
    assertId(session.sessionId, 'sessionId');
    assertOptionalId(session.userId, 'userId');
    assertOptionalId(session.agentId, 'agentId');
    if (session.sessionName !== undefined) assertSessionName(session.sessionName);
    assertSessionState(session.sessionState);
    if (session.summary !== undefined) assertSessionSummaryRecord(session.summary);
    if (session.metadata !== undefined) assertSessionMetadata(session.metadata);
    if (session.pendingRun !== undefined) assertPendingRunRecord(session.pendingRun);
    // The times an import restores: epoch ms, created no later than updated.
    assertRestoreTimes({ createdAt: session.createdAt, updatedAt: session.updatedAt }, 'session');
  });
}

/** Checks a run line's values with the contract's write validators. */
export function checkRunValues(run: ExportRun, lineNumber: number): void {
  const { type: _type, index: _index, stateAfter, ...input } = run;
  check(lineNumber, () => {
    assertRunInput(input, run.sessionId);
    if (stateAfter !== undefined) assertSessionState(stateAfter, 'stateAfter');
  });
}

/** Checks a memory line's values with the contract's write validators. */
export function checkMemoryValues(memory: ExportMemory, lineNumber: number): void {
  const { type: _type, ...input } = memory;
  check(lineNumber, () => {
    assertId(input.id, 'memory.id');
    normalizeUpsertMemoryInput(input as UserMemory);
  });
}

interface OpenSession {
  sessionId: string;
  runCount: number;
  lineNumber: number;
  /** Index of the last run line seen, `undefined` before the first. */
  lastIndex: number | undefined;
}

/** Walks the lines of one file in order; `end()` after the last one. */
export class ExportChecker {
  readonly counts = { sessions: 0, runs: 0, memories: 0 };
  readonly #sessionIds = new Set<string>();
  #sawHeader = false;
  #sawEnd = false;
  #open: OpenSession | undefined;
  #lastLine = 0;

  /** Checks one line; returns its record (`undefined` for a blank line). */
  line(text: string, lineNumber: number): ExportRecord | undefined {
    this.#lastLine = lineNumber;
    const record = parseExportLine(text, lineNumber);
    if (record === undefined) return undefined;
    if (this.#sawEnd) throw lineError(lineNumber, 'a record after the end line');
    if (!this.#sawHeader && record.type !== 'header') {
      throw lineError(
        lineNumber,
        `the file must start with the buddy-export header, got a ${record.type} line`,
      );
    }
    switch (record.type) {
      case 'header':
        if (this.#sawHeader) throw lineError(lineNumber, 'a second header');
        this.#sawHeader = true;
        break;
      case 'session':
        this.#closeSession(lineNumber);
        checkSessionValues(record, lineNumber);
        if (this.#sessionIds.has(record.sessionId)) {
          throw lineError(lineNumber, `session ${JSON.stringify(record.sessionId)} appears twice`);
        }
        this.#sessionIds.add(record.sessionId);
        this.#open = {
          sessionId: record.sessionId,
          runCount: record.runCount,
          lineNumber,
          lastIndex: undefined,
        };
        this.counts.sessions++;
        break;
      case 'run': {
        const open = this.#open;
        if (open === undefined || open.sessionId !== record.sessionId) {
          throw lineError(
            lineNumber,
            `a run of session ${JSON.stringify(record.sessionId)} that does not follow its session line`,
          );
        }
        const expected = open.lastIndex === undefined ? undefined : open.lastIndex + 1;
        if (expected !== undefined && record.index !== expected) {
          throw lineError(lineNumber, `run index ${record.index} where ${expected} was expected`);
        }
        if (record.index >= open.runCount) {
          throw lineError(
            lineNumber,
            `run index ${record.index}, but the session has runCount ${open.runCount}`,
          );
        }
        checkRunValues(record, lineNumber);
        open.lastIndex = record.index;
        this.counts.runs++;
        break;
      }
      case 'memory':
        this.#closeSession(lineNumber);
        checkMemoryValues(record, lineNumber);
        this.counts.memories++;
        break;
      case 'end': {
        this.#closeSession(lineNumber);
        const { sessions, runs, memories } = this.counts;
        if (record.sessions !== sessions || record.runs !== runs || record.memories !== memories) {
          throw lineError(
            lineNumber,
            `the end line counts ${record.sessions} sessions, ${record.runs} runs, ${record.memories} memories, the file holds ${sessions}, ${runs}, ${memories}`,
          );
        }
        this.#sawEnd = true;
        break;
      }
    }
    return record;
  }

  #closeSession(lineNumber: number): void {
    const open = this.#open;
    if (open === undefined) return;
    this.#open = undefined;
    if (open.lastIndex !== undefined && open.lastIndex !== open.runCount - 1) {
      throw lineError(
        lineNumber,
        `session ${JSON.stringify(open.sessionId)} (line ${open.lineNumber}) has runCount ${open.runCount}, but its runs end at index ${open.lastIndex}`,
      );
    }
  }

  /** After the last line: the file must have had its header and end line. */
  end(): void {
    if (!this.#sawHeader)
      throw lineError(Math.max(1, this.#lastLine), 'the file is empty (no buddy-export header)');
    if (!this.#sawEnd) {
      throw lineError(this.#lastLine + 1, 'the file ends without its end line: it was cut short');
    }
  }
}
