/**
 * The session tables of one `tablePrefix` (default `buddy_`) and every statement `PostgresStorage`
 * runs on them.
 *
 * - `<prefix>sessions`: one row per session; state and summary are `jsonb`, timestamps are epoch
 *   milliseconds from the database clock. Listing indexes `(user_id, updated_at, session_id)`,
 *   `(updated_at, session_id)`, `(agent_id, updated_at, session_id)` and
 *   `(user_id, agent_id, updated_at, session_id)` serve the keyset cursor without a sort.
 * - `<prefix>runs`: one row per run, primary key `(session_id, idx)`, `run_id` unique per session
 *   (retrying an append is idempotent), cascading from its session.
 * - `<prefix>leases`: one row per held lease, expiry on the database clock.
 * - `<prefix>append_run_v2`, `<prefix>acquire_lease_v2`, `<prefix>upsert_session`,
 *   `<prefix>prune`, `<prefix>delete_session`, `<prefix>delete_user_data`: PL/pgSQL functions,
 *   so each of those is one statement and one round trip that checks owner and lease in the same
 *   transaction as its writes. Version 1's `append_run` and `acquire_lease` stay in place for
 *   processes still running an older package during a rolling upgrade.
 * - Version 2 (0.2): `metadata` and `pending_run` (`jsonb`) and `summary_runs_covered` columns;
 *   runs may have gaps at the start after `prune({ keepLastRuns })` (indexes never change).
 *
 * Ids are `COLLATE "C"` (code-point order), so listing ties break the same way as the cursor.
 */
import { qualifiedName, quoteIdentifier } from './identifiers.ts';
import { WRAPPED_KEY } from './json-codec.ts';
import type { Migration } from './migrations.ts';
import { BUDDY_SQLSTATE, type Statement, statement } from './postgres-connection.ts';

/** Default `tablePrefix`. */
export const DEFAULT_TABLE_PREFIX = 'buddy_';
/** Longest `tablePrefix`: leaves room for `sessions_user_agent_idx` within 63 characters. */
export const MAX_TABLE_PREFIX_LENGTH = 40;

/** The quoted names of one session table family. */
export interface SessionNames {
  schema: string;
  prefix: string;
  sessions: string;
  runs: string;
  leases: string;
  versions: string;
  /** Version 1's functions, kept for older processes during a rolling upgrade. */
  appendRunV1: string;
  acquireLeaseV1: string;
  appendRun: string;
  acquireLease: string;
  upsertSession: string;
  prune: string;
  deleteSession: string;
  deleteUserData: string;
}

/** The names derived from `schema` and `tablePrefix`. */
export function sessionNames(schema: string, prefix: string): SessionNames {
  const q = (name: string) => qualifiedName(schema, `${prefix}${name}`);
  return {
    schema,
    prefix,
    sessions: q('sessions'),
    runs: q('runs'),
    leases: q('leases'),
    versions: `${prefix}schema_versions`,
    appendRunV1: q('append_run'),
    acquireLeaseV1: q('acquire_lease'),
    appendRun: q('append_run_v2'),
    acquireLease: q('acquire_lease_v2'),
    upsertSession: q('upsert_session'),
    prune: q('prune'),
    deleteSession: q('delete_session'),
    deleteUserData: q('delete_user_data'),
  };
}

/** Epoch milliseconds on the database clock. */
const NOW_MS = 'floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** The columns a `SessionRecord` is read from (version 2). */
const SESSION_COLUMNS =
  'session_id, incarnation, user_id, agent_id, session_name, state, summary, version, run_count, created_at, updated_at, metadata, pending_run';

/** Longest `int4`: larger counts (a `runsCovered`, a `keepLastRuns`) are clamped to it. */
export const MAX_INT4 = 2_147_483_647;

/** The forward migrations of the session tables and functions, in order. */
export function sessionMigrations(names: SessionNames): Migration[] {
  const { sessions, runs, leases, prefix } = names;
  const index = (name: string) => quoteIdentifier(`${prefix}${name}`);
  return [
    {
      version: 1,
      description: 'sessions, runs and leases tables; append, lease and delete functions',
      statements: [
        `CREATE TABLE ${sessions} (
          session_id text COLLATE "C" PRIMARY KEY,
          incarnation text NOT NULL,
          user_id text COLLATE "C",
          agent_id text COLLATE "C",
          session_name text,
          state jsonb NOT NULL,
          summary jsonb,
          version integer NOT NULL,
          run_count integer NOT NULL,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL
        )`,
        `CREATE INDEX ${index('sessions_user_idx')} ON ${sessions} (user_id, updated_at, session_id)`,
        `CREATE INDEX ${index('sessions_updated_idx')} ON ${sessions} (updated_at, session_id)`,
        `CREATE INDEX ${index('sessions_agent_idx')} ON ${sessions} (agent_id, updated_at, session_id)`,
        `CREATE INDEX ${index('sessions_user_agent_idx')} ON ${sessions} (user_id, agent_id, updated_at, session_id)`,
        `CREATE TABLE ${runs} (
          session_id text COLLATE "C" NOT NULL REFERENCES ${sessions} (session_id) ON DELETE CASCADE,
          idx integer NOT NULL,
          run_id text COLLATE "C" NOT NULL,
          version integer NOT NULL,
          written_at bigint NOT NULL,
          run jsonb NOT NULL,
          PRIMARY KEY (session_id, idx),
          UNIQUE (session_id, run_id)
        )`,
        // token and expires_at are nullable on purpose: a row missing either (a hand edit, a
        // partial restore) is reported as corrupt instead of holding the session forever.
        `CREATE TABLE ${leases} (
          session_id text COLLATE "C" PRIMARY KEY,
          token text,
          expires_at timestamptz
        )`,
        appendRunV1Function(names),
        acquireLeaseV1Function(names),
        deleteSessionFunction(names),
        deleteUserDataFunction(names),
      ],
    },
    {
      version: 2,
      description:
        'metadata, pending_run and summary_runs_covered columns; append_run_v2, acquire_lease_v2, upsert_session and prune functions',
      statements: [
        // Nullable columns without a default: a catalog change only, no table rewrite.
        `ALTER TABLE ${sessions}
          ADD COLUMN metadata jsonb,
          ADD COLUMN pending_run jsonb,
          ADD COLUMN summary_runs_covered integer`,
        appendRunFunction(names),
        acquireLeaseFunction(names),
        upsertSessionFunction(names),
        pruneFunction(names),
      ],
    },
  ];
}

/**
 * `appendRun` of version 1 (kept unchanged for processes of an older package): lock (or create)
 * the session row, check the owner, return the stored result when this run id is already there
 * (a retry), check (and, with `p_release`, delete) the lease, then bump the counters and insert
 * the run. Lock order is session row, then lease row, everywhere. Never reads state, summary or
 * older runs.
 */
function appendRunV1Function({ sessions, runs, leases, appendRunV1 }: SessionNames): string {
  return `CREATE FUNCTION ${appendRunV1}(
    p_session_id text, p_user_id text, p_agent_id text, p_session_name text, p_incarnation text,
    p_run_id text, p_run jsonb, p_state jsonb, p_lease_token text, p_release boolean)
  RETURNS TABLE (out_index integer, out_version integer, out_updated_at bigint, out_released boolean,
    out_incarnation text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_session record;
    v_existing record;
    v_now bigint;
    v_version integer;
    v_updated bigint;
  BEGIN
    LOOP
      SELECT s.user_id, s.run_count, s.incarnation INTO v_session
        FROM ${sessions} s WHERE s.session_id = p_session_id FOR UPDATE;
      EXIT WHEN FOUND;
      -- A new session: a version-0 row, completed below (or rolled back with everything else).
      INSERT INTO ${sessions} AS s (session_id, incarnation, user_id, agent_id, session_name,
          state, version, run_count, created_at, updated_at)
        VALUES (p_session_id, p_incarnation, p_user_id, p_agent_id, p_session_name, '{}', 0, 0, 0, 0)
        ON CONFLICT (session_id) DO NOTHING;
    END LOOP;
    IF p_user_id IS NOT NULL AND v_session.user_id IS DISTINCT FROM p_user_id THEN
      RAISE EXCEPTION 'session belongs to another user' USING ERRCODE = '${BUDDY_SQLSTATE.ownership}';
    END IF;
    SELECT r.idx, r.version, r.written_at INTO v_existing
      FROM ${runs} r WHERE r.session_id = p_session_id AND r.run_id = p_run_id;
    IF FOUND THEN
      -- The same run sent again (its first reply was lost): report what was stored.
      IF p_release AND p_lease_token IS NOT NULL THEN
        DELETE FROM ${leases} l WHERE l.session_id = p_session_id AND l.token = p_lease_token;
      END IF;
      RETURN QUERY SELECT v_existing.idx, v_existing.version, v_existing.written_at,
        p_release AND p_lease_token IS NOT NULL, v_session.incarnation;
      RETURN;
    END IF;
    IF p_lease_token IS NOT NULL THEN
      IF p_release THEN
        DELETE FROM ${leases} l
          WHERE l.session_id = p_session_id AND l.token = p_lease_token
            AND l.expires_at > clock_timestamp();
      ELSE
        -- FOR SHARE: a taker waits until this write commits, then reads the session after it.
        PERFORM 1 FROM ${leases} l
          WHERE l.session_id = p_session_id AND l.token = p_lease_token
            AND l.expires_at > clock_timestamp()
          FOR SHARE;
      END IF;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'lease lost' USING ERRCODE = '${BUDDY_SQLSTATE.leaseLost}';
      END IF;
    END IF;
    v_now := ${NOW_MS};
    UPDATE ${sessions} AS s SET
        state = p_state,
        session_name = COALESCE(p_session_name, s.session_name),
        version = s.version + 1,
        run_count = s.run_count + 1,
        created_at = CASE WHEN s.version = 0 THEN v_now ELSE s.created_at END,
        updated_at = GREATEST(s.updated_at, v_now)
      WHERE s.session_id = p_session_id
      RETURNING s.version, s.updated_at INTO v_version, v_updated;
    INSERT INTO ${runs} (session_id, idx, run_id, version, written_at, run)
      VALUES (p_session_id, v_session.run_count, p_run_id, v_version, v_updated, p_run);
    RETURN QUERY SELECT v_session.run_count, v_version, v_updated,
      p_release AND p_lease_token IS NOT NULL, v_session.incarnation;
  END
  $fn$`;
}

/**
 * `acquireLease` of version 1 (kept unchanged for processes of an older package), in one statement: a free lease is claimed by one insert, an expired one by an
 * update; a held one answers "not claimed" without writing anything (no transaction id); with `p_read_session` the session row is read right after the claim,
 * by a new snapshot, so it includes every write of the previous holder. The claim commits with
 * `synchronous_commit = off`: a claim lost in a server crash only makes its holder's fenced
 * append fail with CONFLICT, so it needs no disk flush of its own.
 */
function acquireLeaseV1Function({ sessions, leases, acquireLeaseV1 }: SessionNames): string {
  return `CREATE FUNCTION ${acquireLeaseV1}(
    p_session_id text, p_token text, p_ttl_ms bigint, p_read_session boolean)
  RETURNS TABLE (out_claimed boolean, out_session_id text, out_incarnation text,
    out_user_id text, out_agent_id text, out_session_name text, out_state jsonb,
    out_summary jsonb, out_version integer, out_run_count integer, out_created_at bigint,
    out_updated_at bigint)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_lease record;
    v_claimed boolean;
  BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    -- The common case (the previous holder released it): no row, one insert claims it. A present
    -- row is only looked at, and nothing is written when it is held (no transaction id, no WAL).
    INSERT INTO ${leases} AS l (session_id, token, expires_at)
      VALUES (p_session_id, p_token, clock_timestamp() + p_ttl_ms * interval '1 millisecond')
      ON CONFLICT (session_id) DO NOTHING;
    v_claimed := FOUND;
    IF NOT v_claimed THEN
      SELECT l.token, l.expires_at INTO v_lease FROM ${leases} l WHERE l.session_id = p_session_id;
      IF FOUND AND (v_lease.token IS NULL OR v_lease.expires_at IS NULL) THEN
        RAISE EXCEPTION 'lease row is corrupt' USING ERRCODE = '${BUDDY_SQLSTATE.leaseCorrupt}';
      END IF;
      IF FOUND AND v_lease.expires_at <= clock_timestamp() THEN
        UPDATE ${leases} AS l
          SET token = p_token, expires_at = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
          WHERE l.session_id = p_session_id AND l.expires_at <= clock_timestamp();
        v_claimed := FOUND;
      END IF;
    END IF;
    IF NOT v_claimed OR NOT p_read_session THEN
      RETURN QUERY SELECT v_claimed, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
        NULL::jsonb, NULL::jsonb, NULL::integer, NULL::integer, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    RETURN QUERY SELECT true, s.session_id::text, s.incarnation, s.user_id::text, s.agent_id::text,
        s.session_name, s.state, s.summary, s.version, s.run_count, s.created_at, s.updated_at
      FROM (SELECT 1) AS one LEFT JOIN ${sessions} s ON s.session_id = p_session_id;
  END
  $fn$`;
}

/** `deleteSession`: owner checked on the locked row; the lease goes too; runs cascade. */
function deleteSessionFunction({ sessions, leases, deleteSession }: SessionNames): string {
  return `CREATE FUNCTION ${deleteSession}(p_session_id text, p_user_id text)
  RETURNS boolean
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_owner text;
    v_found boolean;
  BEGIN
    SELECT s.user_id INTO v_owner FROM ${sessions} s WHERE s.session_id = p_session_id FOR UPDATE;
    v_found := FOUND;
    IF v_found AND p_user_id IS NOT NULL AND v_owner IS DISTINCT FROM p_user_id THEN
      RAISE EXCEPTION 'session belongs to another user' USING ERRCODE = '${BUDDY_SQLSTATE.ownership}';
    END IF;
    DELETE FROM ${leases} l WHERE l.session_id = p_session_id;
    IF v_found THEN
      DELETE FROM ${sessions} s WHERE s.session_id = p_session_id;
    END IF;
    RETURN v_found;
  END
  $fn$`;
}

/** `deleteUserData`: locks the user's sessions (id order), deletes their leases, then them. */
function deleteUserDataFunction({ sessions, leases, deleteUserData }: SessionNames): string {
  return `CREATE FUNCTION ${deleteUserData}(p_user_id text)
  RETURNS integer
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_count integer;
  BEGIN
    PERFORM 1 FROM ${sessions} s WHERE s.user_id = p_user_id ORDER BY s.session_id FOR UPDATE;
    DELETE FROM ${leases} l USING ${sessions} s
      WHERE l.session_id = s.session_id AND s.user_id = p_user_id;
    DELETE FROM ${sessions} s WHERE s.user_id = p_user_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
  END
  $fn$`;
}

/**
 * `appendRun` of version 2: as version 1, and also records `p_metadata` when the append creates
 * the session (never on later appends), and with `p_clear_pending` clears the paused run in the
 * same update. Lock order is session row, then lease row, everywhere. Never reads state, summary
 * or older runs.
 */
function appendRunFunction({ sessions, runs, leases, appendRun }: SessionNames): string {
  return `CREATE FUNCTION ${appendRun}(
    p_session_id text, p_user_id text, p_agent_id text, p_session_name text, p_incarnation text,
    p_run_id text, p_run jsonb, p_state jsonb, p_lease_token text, p_release boolean,
    p_metadata jsonb, p_clear_pending boolean)
  RETURNS TABLE (out_index integer, out_version integer, out_updated_at bigint, out_released boolean,
    out_incarnation text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_session record;
    v_existing record;
    v_now bigint;
    v_version integer;
    v_updated bigint;
  BEGIN
    LOOP
      SELECT s.user_id, s.run_count, s.incarnation INTO v_session
        FROM ${sessions} s WHERE s.session_id = p_session_id FOR UPDATE;
      EXIT WHEN FOUND;
      -- A new session: a version-0 row, completed below (or rolled back with everything else).
      INSERT INTO ${sessions} AS s (session_id, incarnation, user_id, agent_id, session_name,
          state, version, run_count, created_at, updated_at, metadata)
        VALUES (p_session_id, p_incarnation, p_user_id, p_agent_id, p_session_name, '{}', 0, 0, 0, 0,
          p_metadata)
        ON CONFLICT (session_id) DO NOTHING;
    END LOOP;
    IF p_user_id IS NOT NULL AND v_session.user_id IS DISTINCT FROM p_user_id THEN
      RAISE EXCEPTION 'session belongs to another user' USING ERRCODE = '${BUDDY_SQLSTATE.ownership}';
    END IF;
    SELECT r.idx, r.version, r.written_at INTO v_existing
      FROM ${runs} r WHERE r.session_id = p_session_id AND r.run_id = p_run_id;
    IF FOUND THEN
      -- The same run sent again (its first reply was lost): report what was stored.
      IF p_release AND p_lease_token IS NOT NULL THEN
        DELETE FROM ${leases} l WHERE l.session_id = p_session_id AND l.token = p_lease_token;
      END IF;
      RETURN QUERY SELECT v_existing.idx, v_existing.version, v_existing.written_at,
        p_release AND p_lease_token IS NOT NULL, v_session.incarnation;
      RETURN;
    END IF;
    IF p_lease_token IS NOT NULL THEN
      IF p_release THEN
        DELETE FROM ${leases} l
          WHERE l.session_id = p_session_id AND l.token = p_lease_token
            AND l.expires_at > clock_timestamp();
      ELSE
        -- FOR SHARE: a taker waits until this write commits, then reads the session after it.
        PERFORM 1 FROM ${leases} l
          WHERE l.session_id = p_session_id AND l.token = p_lease_token
            AND l.expires_at > clock_timestamp()
          FOR SHARE;
      END IF;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'lease lost' USING ERRCODE = '${BUDDY_SQLSTATE.leaseLost}';
      END IF;
    END IF;
    v_now := ${NOW_MS};
    UPDATE ${sessions} AS s SET
        state = p_state,
        session_name = COALESCE(p_session_name, s.session_name),
        pending_run = CASE WHEN p_clear_pending THEN NULL ELSE s.pending_run END,
        version = s.version + 1,
        run_count = s.run_count + 1,
        created_at = CASE WHEN s.version = 0 THEN v_now ELSE s.created_at END,
        updated_at = GREATEST(s.updated_at, v_now)
      WHERE s.session_id = p_session_id
      RETURNING s.version, s.updated_at INTO v_version, v_updated;
    INSERT INTO ${runs} (session_id, idx, run_id, version, written_at, run)
      VALUES (p_session_id, v_session.run_count, p_run_id, v_version, v_updated, p_run);
    RETURN QUERY SELECT v_session.run_count, v_version, v_updated,
      p_release AND p_lease_token IS NOT NULL, v_session.incarnation;
  END
  $fn$`;
}

/**
 * `acquireLease` of version 2: as version 1, and the session read after the claim also returns
 * `metadata` and `pending_run`.
 */
function acquireLeaseFunction({ sessions, leases, acquireLease }: SessionNames): string {
  return `CREATE FUNCTION ${acquireLease}(
    p_session_id text, p_token text, p_ttl_ms bigint, p_read_session boolean)
  RETURNS TABLE (out_claimed boolean, out_session_id text, out_incarnation text,
    out_user_id text, out_agent_id text, out_session_name text, out_state jsonb,
    out_summary jsonb, out_version integer, out_run_count integer, out_created_at bigint,
    out_updated_at bigint, out_metadata jsonb, out_pending_run jsonb)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_lease record;
    v_claimed boolean;
  BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO ${leases} AS l (session_id, token, expires_at)
      VALUES (p_session_id, p_token, clock_timestamp() + p_ttl_ms * interval '1 millisecond')
      ON CONFLICT (session_id) DO NOTHING;
    v_claimed := FOUND;
    IF NOT v_claimed THEN
      SELECT l.token, l.expires_at INTO v_lease FROM ${leases} l WHERE l.session_id = p_session_id;
      IF FOUND AND (v_lease.token IS NULL OR v_lease.expires_at IS NULL) THEN
        RAISE EXCEPTION 'lease row is corrupt' USING ERRCODE = '${BUDDY_SQLSTATE.leaseCorrupt}';
      END IF;
      IF FOUND AND v_lease.expires_at <= clock_timestamp() THEN
        UPDATE ${leases} AS l
          SET token = p_token, expires_at = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
          WHERE l.session_id = p_session_id AND l.expires_at <= clock_timestamp();
        v_claimed := FOUND;
      END IF;
    END IF;
    IF NOT v_claimed OR NOT p_read_session THEN
      RETURN QUERY SELECT v_claimed, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
        NULL::jsonb, NULL::jsonb, NULL::integer, NULL::integer, NULL::bigint, NULL::bigint,
        NULL::jsonb, NULL::jsonb;
      RETURN;
    END IF;
    RETURN QUERY SELECT true, s.session_id::text, s.incarnation, s.user_id::text, s.agent_id::text,
        s.session_name, s.state, s.summary, s.version, s.run_count, s.created_at, s.updated_at,
        s.metadata, s.pending_run
      FROM (SELECT 1) AS one LEFT JOIN ${sessions} s ON s.session_id = p_session_id;
  END
  $fn$`;
}

/**
 * The write of `upsertSession`, after the caller read and validated the row. Without
 * `p_version` it creates the session (no row when another writer created it first); with it, it
 * is a compare-and-set on `(incarnation, version)` and the owner (no row when the session
 * changed: the caller reads again). With `p_lease_token` it then checks the lease in the same
 * transaction, locking its row after the session row (the order `append_run_v2` uses), and
 * raises `BD001` when the token no longer holds it, which rolls the write back.
 */
function upsertSessionFunction({ sessions, leases, upsertSession }: SessionNames): string {
  return `CREATE FUNCTION ${upsertSession}(
    p_session_id text, p_incarnation text, p_version integer, p_user_id text, p_agent_id text,
    p_session_name text, p_state jsonb, p_set_summary boolean, p_summary jsonb,
    p_runs_covered integer, p_set_metadata boolean, p_metadata jsonb, p_set_pending boolean,
    p_pending_run jsonb, p_lease_token text)
  RETURNS SETOF ${sessions}
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_row ${sessions}%ROWTYPE;
    v_now bigint;
  BEGIN
    v_now := ${NOW_MS};
    IF p_version IS NULL THEN
      INSERT INTO ${sessions} AS s (session_id, incarnation, user_id, agent_id, session_name,
          state, summary, summary_runs_covered, metadata, pending_run, version, run_count,
          created_at, updated_at)
        VALUES (p_session_id, p_incarnation, p_user_id, p_agent_id, p_session_name,
          COALESCE(p_state, '{}'), CASE WHEN p_set_summary THEN p_summary END,
          CASE WHEN p_set_summary THEN p_runs_covered END,
          CASE WHEN p_set_metadata THEN p_metadata END,
          CASE WHEN p_set_pending THEN p_pending_run END, 1, 0, v_now, v_now)
        ON CONFLICT (session_id) DO NOTHING
        RETURNING s.* INTO v_row;
    ELSE
      UPDATE ${sessions} AS s SET
          session_name = COALESCE(p_session_name, s.session_name),
          state = COALESCE(p_state, s.state),
          summary = CASE WHEN p_set_summary THEN p_summary ELSE s.summary END,
          summary_runs_covered =
            CASE WHEN p_set_summary THEN p_runs_covered ELSE s.summary_runs_covered END,
          metadata = CASE WHEN p_set_metadata THEN p_metadata ELSE s.metadata END,
          pending_run = CASE WHEN p_set_pending THEN p_pending_run ELSE s.pending_run END,
          version = s.version + 1,
          updated_at = GREATEST(s.updated_at, v_now)
        WHERE s.session_id = p_session_id AND s.incarnation = p_incarnation
          AND s.version = p_version AND (p_user_id IS NULL OR s.user_id = p_user_id)
        RETURNING s.* INTO v_row;
    END IF;
    IF NOT FOUND THEN
      RETURN;
    END IF;
    IF p_lease_token IS NOT NULL THEN
      PERFORM 1 FROM ${leases} l
        WHERE l.session_id = p_session_id AND l.token = p_lease_token
          AND l.expires_at > clock_timestamp()
        FOR SHARE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'lease lost' USING ERRCODE = '${BUDDY_SQLSTATE.leaseLost}';
      END IF;
    END IF;
    RETURN NEXT v_row;
  END
  $fn$`;
}

/**
 * The runs of a session before this index may be deleted by `keepLastRuns`: the first run kept
 * is `min(run_count - keep, runsCovered)`, never one the summary does not cover yet. Rows written
 * before version 2 have no `summary_runs_covered`: their summary's `runsCovered` is read from the
 * `jsonb`, and a summary it cannot be read from (stored wrapped, or corrupt) keeps every run.
 */
function firstKeptRun(alias: string): string {
  return `LEAST(${alias}.run_count - p_keep_last, CASE WHEN ${alias}.summary IS NULL THEN ${alias}.run_count
    ELSE COALESCE(${alias}.summary_runs_covered,
      CASE WHEN jsonb_typeof(${alias}.summary -> 'runsCovered') = 'number'
        THEN LEAST(GREATEST(floor((${alias}.summary ->> 'runsCovered')::numeric), 0), ${MAX_INT4})::integer
        ELSE 0 END) END)`;
}

/**
 * `prune` in one statement. Sessions not updated since `p_older_than` (of `p_user_id`, when
 * given) are locked in id order like `delete_user_data`, their runs counted, then their leases and
 * them deleted (runs cascade). Then, with `p_keep_last`, the older runs of every remaining session
 * (of that user) are deleted through the `(session_id, idx)` primary key; indexes and
 * `run_count` stay. Each branch is its own statement so that its plan uses the user's index.
 */
function pruneFunction({ sessions, runs, leases, prune }: SessionNames): string {
  return `CREATE FUNCTION ${prune}(p_older_than bigint, p_keep_last integer, p_user_id text)
  RETURNS TABLE (out_sessions integer, out_runs bigint)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_ids text[];
    v_sessions integer := 0;
    v_runs bigint := 0;
    v_count bigint;
  BEGIN
    IF p_older_than IS NOT NULL THEN
      IF p_user_id IS NULL THEN
        SELECT COALESCE(array_agg(old.session_id), '{}') INTO v_ids FROM (
          SELECT s.session_id FROM ${sessions} s WHERE s.updated_at < p_older_than
            ORDER BY s.session_id FOR UPDATE) AS old;
      ELSE
        SELECT COALESCE(array_agg(old.session_id), '{}') INTO v_ids FROM (
          SELECT s.session_id FROM ${sessions} s
            WHERE s.user_id = p_user_id AND s.updated_at < p_older_than
            ORDER BY s.session_id FOR UPDATE) AS old;
      END IF;
      IF cardinality(v_ids) > 0 THEN
        SELECT count(*) INTO v_runs FROM ${runs} r WHERE r.session_id = ANY (v_ids);
        DELETE FROM ${leases} l WHERE l.session_id = ANY (v_ids);
        DELETE FROM ${sessions} s WHERE s.session_id = ANY (v_ids);
        GET DIAGNOSTICS v_sessions = ROW_COUNT;
      END IF;
    END IF;
    IF p_keep_last IS NOT NULL THEN
      IF p_user_id IS NULL THEN
        DELETE FROM ${runs} r USING ${sessions} s
          WHERE r.session_id = s.session_id AND r.idx < ${firstKeptRun('s')};
      ELSE
        DELETE FROM ${runs} r USING ${sessions} s
          WHERE s.user_id = p_user_id AND r.session_id = s.session_id
            AND r.idx < ${firstKeptRun('s')};
      END IF;
      GET DIAGNOSTICS v_count = ROW_COUNT;
      v_runs := v_runs + v_count;
    END IF;
    RETURN QUERY SELECT v_sessions, v_runs;
  END
  $fn$`;
}

/** The SQL `PostgresStorage` runs, by purpose. */
export type SessionStatements = ReturnType<typeof sessionStatements>;

/**
 * The metadata filter of a listing, evaluated on each row the index scan yields (never on other
 * users' rows when the listing names a user): `$4` is the filter as `jsonb`; with `$5` true a row
 * matches when every key of `$4` has an equal `jsonb` value in its metadata. A row whose metadata
 * is stored wrapped (it holds NUL or a lone surrogate) always passes, and the storage decides it
 * after unwrapping; with `$5` false (a filter `jsonb` cannot hold) only those rows pass.
 */
const METADATA_FILTER = `((metadata ? '${WRAPPED_KEY}') OR ($5::boolean AND NOT EXISTS (
    SELECT 1 FROM jsonb_each($4::jsonb) AS wanted (key, value)
    WHERE (metadata -> wanted.key) IS DISTINCT FROM wanted.value)))`;

/** Every statement of `PostgresStorage`, named once per schema and prefix. */
export function sessionStatements(names: SessionNames) {
  const { sessions, runs, leases } = names;
  const listColumns =
    'session_id, user_id, agent_id, session_name, created_at, updated_at, metadata';
  const keyset = '(updated_at, session_id) < ($1, $2)';
  const page = 'ORDER BY updated_at DESC, session_id DESC LIMIT $3';
  const statements = {
    selectSession: statement(`SELECT ${SESSION_COLUMNS} FROM ${sessions} WHERE session_id = $1`),
    upsertSession: statement(
      `SELECT ${SESSION_COLUMNS} FROM ${names.upsertSession}($1, $2, $3, $4, $5, $6, $7::jsonb,
        $8, $9::jsonb, $10, $11, $12::jsonb, $13, $14::jsonb, $15)`,
    ),
    /**
     * `upsertSession({ restoreTimes })`: the times an import brings, in the transaction of the
     * upsert function's write (same row, already locked by it).
     */
    restoreSessionTimes: statement(
      `UPDATE ${sessions} SET created_at = $2, updated_at = $3 WHERE session_id = $1
        RETURNING ${SESSION_COLUMNS}`,
    ),
    appendRun: statement(
      `SELECT out_index, out_version, out_updated_at, out_released, out_incarnation
        FROM ${names.appendRun}($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11::jsonb, $12)`,
    ),
    findRun: statement(
      `SELECT r.idx, r.version, r.written_at, s.incarnation
        FROM ${runs} r JOIN ${sessions} s ON s.session_id = r.session_id
        WHERE r.session_id = $1 AND r.run_id = $2`,
    ),
    selectLastRuns: statement(
      `SELECT idx, run FROM ${runs} WHERE session_id = $1 ORDER BY idx DESC LIMIT $2`,
    ),
    // Indexes [$2, $3): after prune({ keepLastRuns }) the first runs may be gone, and a page
    // still means a range of indexes, not a count of rows.
    selectRunsFrom: statement(
      `SELECT idx, run FROM ${runs} WHERE session_id = $1 AND idx >= $2 AND idx < $3::bigint ORDER BY idx`,
    ),
    acquireLease: statement(
      `SELECT out_claimed, out_session_id AS session_id, out_incarnation AS incarnation,
          out_user_id AS user_id, out_agent_id AS agent_id, out_session_name AS session_name,
          out_state AS state, out_summary AS summary, out_version AS version,
          out_run_count AS run_count, out_created_at AS created_at, out_updated_at AS updated_at,
          out_metadata AS metadata, out_pending_run AS pending_run
        FROM ${names.acquireLease}($1, $2, $3, $4)`,
    ),
    renewLease: statement(
      `UPDATE ${leases} SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
        WHERE session_id = $1 AND token = $2 AND expires_at > clock_timestamp()`,
    ),
    releaseLease: statement(`DELETE FROM ${leases} WHERE session_id = $1 AND token = $2`),
    deleteSession: statement(`SELECT ${names.deleteSession}($1, $2) AS deleted`),
    deleteUserData: statement(`SELECT ${names.deleteUserData}($1) AS deleted`),
    prune: statement(`SELECT out_sessions, out_runs FROM ${names.prune}($1, $2, $3)`),
    listAll: statement(`SELECT ${listColumns} FROM ${sessions} WHERE ${keyset} ${page}`),
    listByUser: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE user_id = $4 AND ${keyset} ${page}`,
    ),
    listByAgent: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE agent_id = $4 AND ${keyset} ${page}`,
    ),
    listByUserAndAgent: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE user_id = $4 AND agent_id = $5 AND ${keyset} ${page}`,
    ),
    listAllFiltered: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE ${keyset} AND ${METADATA_FILTER} ${page}`,
    ),
    listByUserFiltered: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE user_id = $6 AND ${keyset} AND ${METADATA_FILTER} ${page}`,
    ),
    listByAgentFiltered: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE agent_id = $6 AND ${keyset} AND ${METADATA_FILTER} ${page}`,
    ),
    listByUserAndAgentFiltered: statement(
      `SELECT ${listColumns} FROM ${sessions} WHERE user_id = $6 AND agent_id = $7 AND ${keyset} AND ${METADATA_FILTER} ${page}`,
    ),
  } satisfies Record<string, Statement>;
  return statements;
}
