import { beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresTestFile } from '../test/postgres-test-env.ts';
import { memoryNames, memoryStatements } from './internal/memory-schema.ts';
import { sessionNames, sessionStatements } from './internal/session-schema.ts';
import { PostgresMemoryDb } from './postgres-memory-db.ts';
import { PostgresStorage } from './postgres-storage.ts';

const { hasPostgres, schema, admin } = await postgresTestFile('plans');
const SESSIONS = 100_000;
const RUNS = 100_000;
const MEMORIES = 100_000;
const HEAVY_PAIR_SESSIONS = 5_000;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

async function planNodes(
  statement: { text: string },
  values: unknown[],
  mode: 'auto' | 'force_generic_plan',
): Promise<PlanNode[]> {
  const client = await admin.connect();
  try {
    await client.query(`SET plan_cache_mode = ${mode}`);
    const result = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${statement.text}`,
      values,
    );
    return nodes(result.rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode);
  } finally {
    await client.query('RESET plan_cache_mode');
    client.release();
  }
}

describe.skipIf(!hasPostgres)('query plans on 100k sessions and 100k runs', () => {
  const names = sessionNames(schema, 'buddy_');
  const sql = sessionStatements(names);

  beforeAll(async () => {
    const storage = new PostgresStorage({ connectionString: POSTGRES_URL, schema });
    await storage.ready();
    await storage.close();
    await admin.query(
      `INSERT INTO ${names.sessions} (session_id, incarnation, user_id, agent_id, session_name, state, version, run_count, created_at, updated_at, metadata)
       SELECT 's' || i, 'inc', 'u' || (i % 1000), 'a' || (i % 50), NULL, '{}', 1, 0, 1700000000000 + i, 1700000000000 + i,
         jsonb_build_object('channel', CASE WHEN i % 3 = 0 THEN 'web' ELSE 'app' END, 'plan', jsonb_build_object('tier', 'pro'))
       FROM generate_series(1, $1) AS i`,
      [SESSIONS],
    );
    await admin.query(
      `INSERT INTO ${names.runs} (session_id, idx, run_id, version, written_at, run)
       SELECT 's1', i, 'r' || i, i + 1, 0, '{"runId": "r"}' FROM generate_series(0, $1 - 1) AS i`,
      [RUNS],
    );
    // One user with thousands of sessions with one agent: the listing the composite index is for.
    // (The pairs above are correlated, u7 always with a7, so the planner would guess ~2 rows for
    // any of them, and with 2 rows sorting or not is a coin toss of the statistics sample.)
    await admin.query(
      `INSERT INTO ${names.sessions} (session_id, incarnation, user_id, agent_id, session_name, state, version, run_count, created_at, updated_at, metadata)
       SELECT 'h' || i, 'inc', 'heavy', 'heavy-agent', NULL, '{}', 1, 0, 1700000000000 + i * 20, 1700000000000 + i * 20,
         jsonb_build_object('channel', CASE WHEN i % 3 = 0 THEN 'web' ELSE 'app' END, 'plan', jsonb_build_object('tier', 'pro'))
       FROM generate_series(1, $1) AS i`,
      [HEAVY_PAIR_SESSIONS],
    );
    await admin.query(`ANALYZE ${names.sessions}`);
    await admin.query(`ANALYZE ${names.runs}`);
  }, 120_000);

  const cursor = [1700000000000 + 50_000, 's50000'];
  const filter = ['{"channel": "web", "plan": {"tier": "pro"}}', true];
  const cases: [string, { text: string }, unknown[], string][] = [
    ['listing all sessions', sql.listAll, [...cursor, 21], 'buddy_sessions_updated_idx'],
    ['listing one user', sql.listByUser, [...cursor, 21, 'u7'], 'buddy_sessions_user_idx'],
    ['listing one agent', sql.listByAgent, [...cursor, 21, 'a7'], 'buddy_sessions_agent_idx'],
    [
      'listing one user and agent',
      sql.listByUserAndAgent,
      [...cursor, 21, 'heavy', 'heavy-agent'],
      'buddy_sessions_user_agent_idx',
    ],
    [
      'listing one user with a metadata filter',
      sql.listByUserFiltered,
      [...cursor, 21, ...filter, 'u7'],
      'buddy_sessions_user_idx',
    ],
    [
      'listing one user and agent with a metadata filter',
      sql.listByUserAndAgentFiltered,
      [...cursor, 21, ...filter, 'heavy', 'heavy-agent'],
      'buddy_sessions_user_agent_idx',
    ],
    [
      'listing one agent with a metadata filter',
      sql.listByAgentFiltered,
      [...cursor, 21, ...filter, 'a7'],
      'buddy_sessions_agent_idx',
    ],
    [
      'listing all sessions with a metadata filter',
      sql.listAllFiltered,
      [...cursor, 21, ...filter],
      'buddy_sessions_updated_idx',
    ],
    ['the last 3 runs', sql.selectLastRuns, ['s1', 3], 'buddy_runs_pkey'],
    ['runs from an index', sql.selectRunsFrom, ['s1', 50_000, 50_020], 'buddy_runs_pkey'],
    ['a session row', sql.selectSession, ['s1'], 'buddy_sessions_pkey'],
  ];

  for (const mode of ['auto', 'force_generic_plan'] as const) {
    for (const [what, statement, values, index] of cases) {
      it(`${what} (${mode === 'auto' ? 'custom plan' : 'generic plan'}) uses ${index}, no Seq Scan, no Sort`, async () => {
        const plan = await planNodes(statement, values, mode);
        const types = plan.map((node) => node['Node Type']);
        expect(types).not.toContain('Seq Scan');
        expect(types).not.toContain('Sort');
        expect(plan.map((node) => node['Index Name'])).toContain(index);
      });
    }
  }
});

describe.skipIf(!hasPostgres)('query plans on 100k memories of 1,000 users', () => {
  const names = memoryNames(schema, 'buddy_memories');
  const sql = memoryStatements(names);

  beforeAll(async () => {
    const db = new PostgresMemoryDb({ connectionString: POSTGRES_URL, schema });
    await db.ready();
    await db.close();
    // 8 dimensions; a quarter of the rows have none, so that missingEmbedding has work too.
    await admin.query(
      `INSERT INTO ${names.table} (id, user_id, created_at, updated_at, body, embedding, embedding_dims)
       SELECT 'm' || i, 'u' || (i % 1000), i, i, '{"memory": "fact"}',
         CASE WHEN i % 4 = 0 THEN NULL ELSE ARRAY[1, 0, 0, 0, 0, 0, 0, (i % 7) / 7.0]::double precision[] END,
         CASE WHEN i % 4 = 0 THEN NULL ELSE 8 END
       FROM generate_series(1, $1) AS i`,
      [MEMORIES],
    );
    await admin.query(
      `INSERT INTO ${names.revisions} (user_id, rev, epoch) SELECT 'u' || i, 0, i FROM generate_series(0, 999) AS i`,
    );
    await admin.query(`ANALYZE ${names.table}`);
    await admin.query(`ANALYZE ${names.revisions}`);
  }, 120_000);

  const query = [1, 0, 0, 0, 0, 0, 0, 0];
  for (const mode of ['auto', 'force_generic_plan'] as const) {
    const plan = mode === 'auto' ? 'custom plan' : 'generic plan';
    it(`searchMemories (${plan}) reads one user's rows of that length through buddy_memories_embedding_idx, no Seq Scan`, async () => {
      const found = await planNodes(sql.search, ['u7', query, 8, 10], mode);
      expect(found.map((node) => node['Node Type'])).not.toContain('Seq Scan');
      expect(found.map((node) => node['Index Name'])).toContain('buddy_memories_embedding_idx');
    });
    it(`the search cache's statement (${plan}) reads the revision row by its key and the rows by buddy_memories_rev_idx or buddy_memories_embedding_idx, no Seq Scan`, async () => {
      // Same epoch (rows after revision 0) and another epoch (a full read of at most 1000 rows).
      for (const epoch of [7, 8]) {
        const found = await planNodes(sql.searchCache, ['u7', 8, epoch, 0, 1000], mode);
        expect(found.map((node) => node['Node Type'])).not.toContain('Seq Scan');
        const indexes = found.map((node) => node['Index Name']);
        expect(indexes).toContain('buddy_memories_revisions_pkey');
        expect(indexes).toContain('buddy_memories_rev_idx');
        expect(indexes).toContain('buddy_memories_embedding_idx');
      }
    });
    it(`readMemories({ missingEmbedding }) (${plan}) uses buddy_memories_user_idx, no Seq Scan, no Sort`, async () => {
      const found = await planNodes(sql.selectNewest, ['u7', 20, 8], mode);
      const types = found.map((node) => node['Node Type']);
      expect(types).not.toContain('Seq Scan');
      expect(types).not.toContain('Sort');
      expect(found.map((node) => node['Index Name'])).toContain('buddy_memories_user_idx');
    });
  }
});
