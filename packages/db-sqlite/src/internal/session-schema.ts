/**
 * Tables, indexes, migrations and SQL of `SqliteStorage`.
 *
 * Every name derives from `tableName` plus a `$` suffix. `$` cannot appear in a `tableName`, so
 * two storages with different table names never share a table or an index, whatever the names
 * (`a` and `a_runs` included).
 */
import type { Migration } from './migrations.ts';
import { quoteIdentifier } from './sqlite-connection.ts';

/** Default `tableName` of `SqliteStorage`. */
export const DEFAULT_SESSIONS_TABLE = 'buddy_sessions';

/**
 * Page cache of a file `SqliteStorage` opens, in KiB. A turn touches a handful of pages (the
 * session row, its index entries, the last runs), so 2 MiB holds every hot page; better-sqlite3's
 * build default (16,000 KiB) let the cache grow with the file and RSS creep with turns (measured:
 * 84 -> 121 MB from 1,000 to 10,000 turns with a flat 10 MB heap).
 */
export const SESSION_PAGE_CACHE_KIB = 2048;

/**
 * Page size of a new file `SqliteStorage` creates, in bytes (SQLite's default is 4096). Every WAL
 * frame is a whole page and a turn dirties about ten pages (the session row, its three listing
 * index entries, the run and its key, the lease twice), so 2 KiB pages halve the bytes a turn
 * writes (measured with a 1 KB state: 40 -> 23 KB per turn) without more writes per turn; a run
 * row above ~2 KB continues on an overflow page. An existing file keeps its page size.
 */
export const SESSION_PAGE_SIZE = 2048;

/** The names of one storage's tables and indexes (unquoted). */
export interface SessionTableNames {
  sessions: string;
  runs: string;
  leases: string;
  schema: string;
  byUser: string;
  byUpdated: string;
  byAgent: string;
}

/** The names derived from `tableName`. */
export function sessionTableNames(tableName: string): SessionTableNames {
  return {
    sessions: tableName,
    runs: `${tableName}$runs`,
    leases: `${tableName}$leases`,
    schema: `${tableName}$schema`,
    byUser: `${tableName}$by_user`,
    byUpdated: `${tableName}$by_updated`,
    byAgent: `${tableName}$by_agent`,
  };
}

/** The forward migrations of the session tables, in order. */
export function sessionMigrations(names: SessionTableNames): Migration[] {
  const sessions = quoteIdentifier(names.sessions);
  const runs = quoteIdentifier(names.runs);
  const leases = quoteIdentifier(names.leases);
  return [
    {
      version: 1,
      description: 'sessions, runs (one row per run) and leases; listing indexes',
      up: (db) => {
        // Runs are rows keyed by (session_id, idx): appending writes one row and reading the last
        // N is a short index range. Lease rows are tiny and written twice per turn, so they live
        // in a WITHOUT ROWID table: one b-tree to update instead of a table plus its key index.
        db.exec(`
          CREATE TABLE ${sessions} (
            session_id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT,
            agent_id TEXT,
            session_name TEXT,
            state TEXT NOT NULL,
            summary TEXT,
            version INTEGER NOT NULL,
            run_count INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
          );
          CREATE INDEX ${quoteIdentifier(names.byUser)}
            ON ${sessions} (user_id, updated_at, session_id);
          CREATE INDEX ${quoteIdentifier(names.byUpdated)}
            ON ${sessions} (updated_at, session_id);
          CREATE TABLE ${runs} (
            session_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            run TEXT NOT NULL,
            PRIMARY KEY (session_id, idx)
          );
          CREATE TABLE ${leases} (
            session_id TEXT PRIMARY KEY NOT NULL,
            token TEXT NOT NULL,
            expires_at INTEGER NOT NULL
          ) WITHOUT ROWID;
        `);
      },
    },
    {
      version: 2,
      description: 'index for listSessions({ agentId })',
      up: (db) => {
        db.exec(
          `CREATE INDEX ${quoteIdentifier(names.byAgent)} ON ${sessions} (agent_id, updated_at, session_id)`,
        );
      },
    },
    {
      version: 3,
      description:
        'incarnation of each session (NULL for rows from before: read as legacy:<created_at>)',
      up: (db) => {
        // No backfill: ADD COLUMN is a schema change only, whatever the size of the table, and a
        // NULL reads as `legacyIncarnation(created_at)` (stable, because created_at never changes).
        // A row created from now on gets a random incarnation, so a legacy session deleted and
        // created again is told apart from the old one.
        db.exec(`ALTER TABLE ${sessions} ADD COLUMN incarnation TEXT`);
      },
    },
    {
      version: 4,
      description: 'session metadata and the run paused for approvals (JSON, NULL when none)',
      up: (db) => {
        // Schema changes only, like version 3: rows from before read as "no metadata, nothing
        // paused", which is what they had.
        db.exec(`
          ALTER TABLE ${sessions} ADD COLUMN metadata TEXT;
          ALTER TABLE ${sessions} ADD COLUMN pending_run TEXT;
        `);
      },
    },
  ];
}

const SESSION_COLUMNS =
  'session_id, incarnation, user_id, agent_id, session_name, state, summary, version, run_count, created_at, updated_at, metadata, pending_run';
const INFO_COLUMNS =
  'session_id, user_id, agent_id, session_name, created_at, updated_at, metadata';
/** Keyset condition: strictly after the cursor in (updated_at DESC, session_id DESC) order. */
const AFTER_CURSOR = '(updated_at, session_id) < (@cursorUpdatedAt, @cursorSessionId)';
const LISTING_ORDER = 'ORDER BY updated_at DESC, session_id DESC LIMIT @limit';
/**
 * Rows whose `updated_at` is not a number (text or blob sort after every number in SQLite), which
 * the keyset condition can never reach: listing reports them instead of losing them silently.
 * `''` keeps TEXT affinity against the INTEGER column, so this is an index range, not a scan.
 */
/**
 * What a stored summary covers, read in SQL so that `prune` never parses whole summaries: `NULL`
 * without a summary, `'corrupt'` when the column is not JSON or its `runsCovered` is not a count.
 */
const RUNS_COVERED = `CASE
    WHEN summary IS NULL THEN NULL
    WHEN typeof(summary) <> 'text' OR NOT json_valid(summary) THEN 'corrupt'
    WHEN json_type(summary, '$.runsCovered') = 'integer' AND json_extract(summary, '$.runsCovered') >= 0
      THEN json_extract(summary, '$.runsCovered')
    ELSE 'corrupt'
  END`;
const UNSORTABLE = "updated_at >= '' LIMIT 10";

/**
 * Every statement `SqliteStorage` runs, keyed by purpose. Exported so tests can check their query
 * plans (`EXPLAIN QUERY PLAN`) against the very SQL the storage prepares.
 */
export function sessionSql(names: SessionTableNames) {
  const sessions = quoteIdentifier(names.sessions);
  const runs = quoteIdentifier(names.runs);
  const leases = quoteIdentifier(names.leases);
  return {
    selectSession: `SELECT ${SESSION_COLUMNS} FROM ${sessions} WHERE session_id = ?`,
    /** The owner and counters, for deletion and for telling "missing" from "not yours". */
    selectSessionHead: `SELECT user_id, version, run_count, updated_at FROM ${sessions} WHERE session_id = ?`,
    /** What upsertSession checks before it writes: owner, incarnation, the summary rule. */
    selectSessionForUpsert: `SELECT user_id, incarnation, created_at, summary FROM ${sessions} WHERE session_id = ?`,
    insertSession: `INSERT INTO ${sessions} (${SESSION_COLUMNS})
      VALUES (@sessionId, @incarnation, @userId, @agentId, @sessionName, @state, @summary, 1, @runCount, @now, @now, @metadata, @pendingRun)`,
    /**
     * The turn's only statement on the session row: checks the owner in its WHERE (no row comes
     * back for another user's session or a missing one) and returns the new counters, so the turn
     * path never reads the state, the summary or older runs, and reads the row once.
     */
    updateSessionAfterRun: `UPDATE ${sessions} SET
        state = @state,
        session_name = COALESCE(@sessionName, session_name),
        version = version + 1,
        run_count = run_count + 1,
        updated_at = MAX(updated_at, @now),
        pending_run = CASE WHEN @clearPendingRun = 1 THEN NULL ELSE pending_run END
      WHERE session_id = @sessionId AND (@userId IS NULL OR user_id = @userId)
      RETURNING version, run_count, updated_at, incarnation, created_at`,
    updateSession: `UPDATE ${sessions} SET
        state = COALESCE(@state, state),
        session_name = COALESCE(@sessionName, session_name),
        summary = CASE WHEN @replaceSummary = 1 THEN @summary ELSE summary END,
        metadata = COALESCE(@metadata, metadata),
        pending_run = CASE @pendingRunChange WHEN 'set' THEN @pendingRun WHEN 'clear' THEN NULL ELSE pending_run END,
        version = version + 1,
        updated_at = MAX(updated_at, @now)
      WHERE session_id = @sessionId`,
    /**
     * `upsertSession({ restoreTimes })`, in the upsert's transaction after its write: the times an
     * import brings. A row from before incarnations first gets the incarnation it reads as
     * (`legacy:<old created_at>`, passed in), so that moving `created_at` does not change it.
     */
    restoreSessionTimes: `UPDATE ${sessions} SET
        incarnation = COALESCE(incarnation, @incarnation),
        created_at = @createdAt,
        updated_at = @updatedAt
      WHERE session_id = @sessionId`,
    deleteSession: `DELETE FROM ${sessions} WHERE session_id = ?`,
    insertRun: `INSERT INTO ${runs} (session_id, idx, run) VALUES (?, ?, ?)`,
    deleteRuns: `DELETE FROM ${runs} WHERE session_id = ?`,
    selectLastRuns: `SELECT idx, run FROM ${runs} WHERE session_id = ? ORDER BY idx DESC LIMIT ?`,
    /**
     * Runs with `@from <= idx < @end`: a range of indexes, not a count of rows, so runs removed by
     * `prune` leave a gap instead of shifting the page.
     */
    selectRunsFrom: `SELECT idx, run FROM ${runs} WHERE session_id = @sessionId AND idx >= @from AND idx < @end ORDER BY idx`,
    selectLease: `SELECT token, expires_at FROM ${leases} WHERE session_id = ?`,
    /** Takes the lease when it is free or expired; `changes` is 1 when taken. */
    claimLease: `INSERT INTO ${leases} (session_id, token, expires_at) VALUES (@sessionId, @token, @expiresAt)
      ON CONFLICT (session_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
      WHERE ${leases}.expires_at <= @now`,
    renewLease: `UPDATE ${leases} SET expires_at = @expiresAt
      WHERE session_id = @sessionId AND token = @token AND expires_at > @now`,
    releaseLease: `DELETE FROM ${leases} WHERE session_id = ? AND token = ?`,
    /**
     * appendRun with `releaseLease`: `changes` is 1 only when this token's lease was still live.
     * The type check keeps a text `expires_at` (which sorts after every number) from counting as
     * live forever.
     */
    releaseLiveLease: `DELETE FROM ${leases} WHERE session_id = @sessionId AND token = @token AND expires_at > @now
      AND typeof(expires_at) IN ('integer', 'real')`,
    deleteLease: `DELETE FROM ${leases} WHERE session_id = ?`,
    deleteUserRuns: `DELETE FROM ${runs} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE user_id = ?)`,
    deleteUserLeases: `DELETE FROM ${leases} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE user_id = ?)`,
    deleteUserSessions: `DELETE FROM ${sessions} WHERE user_id = ?`,
    // prune (SPEC §15.2): sessions not updated since @olderThan, through the updated_at indexes.
    pruneOldRuns: `DELETE FROM ${runs} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE updated_at < @olderThan)`,
    pruneOldLeases: `DELETE FROM ${leases} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE updated_at < @olderThan)`,
    pruneOldSessions: `DELETE FROM ${sessions} WHERE updated_at < @olderThan`,
    pruneUserOldRuns: `DELETE FROM ${runs} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE user_id = @userId AND updated_at < @olderThan)`,
    pruneUserOldLeases: `DELETE FROM ${leases} WHERE session_id IN (SELECT session_id FROM ${sessions} WHERE user_id = @userId AND updated_at < @olderThan)`,
    pruneUserOldSessions: `DELETE FROM ${sessions} WHERE user_id = @userId AND updated_at < @olderThan`,
    /**
     * keepLastRuns: the sessions that hold more runs than kept, with what their summary covers
     * (`NULL` without a summary, `'corrupt'` when the summary column cannot say). Every session
     * must be looked at, so the global form reads the whole table once: the one statement here
     * that scans, and only `prune` runs it.
     */
    pruneCandidates: `SELECT session_id, run_count, ${RUNS_COVERED} AS runs_covered FROM ${sessions} WHERE run_count > @keep`,
    pruneUserCandidates: `SELECT session_id, run_count, ${RUNS_COVERED} AS runs_covered FROM ${sessions} WHERE user_id = @userId AND run_count > @keep`,
    /** One session's runs before the first one kept: a range of the (session_id, idx) key. */
    pruneRunsBefore: `DELETE FROM ${runs} WHERE session_id = @sessionId AND idx < @firstKept`,
    listAll: `SELECT ${INFO_COLUMNS} FROM ${sessions} WHERE ${AFTER_CURSOR} ${LISTING_ORDER}`,
    listByUser: `SELECT ${INFO_COLUMNS} FROM ${sessions} WHERE user_id = @userId AND ${AFTER_CURSOR} ${LISTING_ORDER}`,
    listByAgent: `SELECT ${INFO_COLUMNS} FROM ${sessions} WHERE agent_id = @agentId AND ${AFTER_CURSOR} ${LISTING_ORDER}`,
    listByUserAndAgent: `SELECT ${INFO_COLUMNS} FROM ${sessions} WHERE user_id = @userId AND agent_id = @agentId AND ${AFTER_CURSOR} ${LISTING_ORDER}`,
    unsortableAll: `SELECT session_id FROM ${sessions} WHERE ${UNSORTABLE}`,
    unsortableByUser: `SELECT session_id FROM ${sessions} WHERE user_id = @userId AND ${UNSORTABLE}`,
    unsortableByAgent: `SELECT session_id FROM ${sessions} WHERE agent_id = @agentId AND ${UNSORTABLE}`,
    unsortableByUserAndAgent: `SELECT session_id FROM ${sessions} WHERE user_id = @userId AND agent_id = @agentId AND ${UNSORTABLE}`,
  };
}

/** The SQL `SqliteStorage` prepares, by purpose. */
export type SessionSql = ReturnType<typeof sessionSql>;
