/**
 * The `buddy` command on real SQLite files: usage errors (exit 2), bad URLs, missing packages and
 * missing files (exit 1, one line, nothing written), listing and showing, export and import with
 * every conflict mode, malformed and cut files named by line number, stdin, progress on a terminal.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportRecordSchema } from '@buddy/core';
import { SqliteMemoryDb, SqliteStorage } from '@buddy/db-sqlite';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportLines } from '../test/export-files.ts';
import { seed } from '../test/fixtures.ts';
import { buddy, runBuddy } from '../test/run-buddy.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'buddy-cli-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function seeded(name = 'source.db', options: Parameters<typeof seed>[2] = {}) {
  const dbFile = join(dir, name);
  const storage = new SqliteStorage({ dbFile });
  const memoryDb = new SqliteMemoryDb({ dbFile });
  try {
    return { url: `sqlite:${dbFile}`, dbFile, ...(await seed(storage, memoryDb, options)) };
  } finally {
    await storage.close();
    await memoryDb.close();
  }
}

function oneLine(text: string): void {
  expect(text.trim().split('\n')).toHaveLength(1);
  expect(text).toMatch(/^buddy: /);
}

describe('usage', () => {
  it('prints the usage for --help (exit 0) and without a command (exit 2)', async () => {
    const help = await buddy(['--help']);
    expect(help.code).toBe(0);
    for (const name of [
      'sessions',
      'show',
      'export',
      'import',
      'migrate',
      'forget',
      'prune',
      'rekey',
    ]) {
      expect(help.stdout).toContain(`  ${name}`);
    }
    const bare = await buddy([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: buddy');
    const command = await buddy(['export', '--help']);
    expect(command.code).toBe(0);
    expect(command.stdout).toContain('buddy export <url> [--user U] [-o file.jsonl]');
  });

  it('refuses an unknown command, an unknown option, a missing or extra argument: one line, exit 2', async () => {
    for (const args of [
      ['frobnicate'],
      ['export', 'sqlite:x.db', '--usr', 'dana'],
      ['show', 'sqlite:x.db'],
      ['sessions', 'sqlite:x.db', 'extra'],
      ['import', 'sqlite:x.db', 'a.jsonl', '--on-conflict', 'merge'],
      ['prune', 'sqlite:x.db'],
      ['prune', 'sqlite:x.db', '--older-than', 'soon'],
      ['forget', 'sqlite:x.db'],
    ]) {
      const result = await buddy(args, { cwd: dir });
      expect(result.code, args.join(' ')).toBe(2);
      oneLine(result.stderr);
      expect(result.stdout).toBe('');
    }
    expect(readdirSync(dir)).toEqual([]);
    expect((await buddy(['frobnicate'])).stderr).toContain('unknown command "frobnicate"');
    expect(
      (await buddy(['export', 'sqlite:x.db', '--usr', 'dana'], { cwd: dir })).stderr,
    ).toContain("'--usr'");
  });
});

describe('the real bin', () => {
  it('exits 0, 1 and 2 as a process, with one line on stderr', async () => {
    const ok = await runBuddy(['--version']);
    expect([ok.code, ok.stdout.trim()]).toEqual([0, '0.1.0']);
    const usage = await runBuddy(['frobnicate'], { cwd: dir });
    expect(usage.code).toBe(2);
    oneLine(usage.stderr);
    const failure = await runBuddy(['sessions', 'mysql://localhost/db'], { cwd: dir });
    expect(failure.code).toBe(1);
    oneLine(failure.stderr);
    const malformed = join(dir, 'broken.jsonl');
    writeFileSync(
      malformed,
      '{"type":"header","format":"buddy-export","version":1,"exportedAt":"x","source":"y"}\nnot json\n',
    );
    const broken = await runBuddy(['import', 'sqlite:target.db', malformed], { cwd: dir });
    expect(broken.code).toBe(1);
    oneLine(broken.stderr);
    expect(broken.stderr).toContain('line 2: not valid JSON');
    expect(readdirSync(dir)).toEqual(['broken.jsonl']);
  });
});

describe('bad places: one clear line, exit 1, nothing written', () => {
  it('refuses URLs that are none of the three forms', async () => {
    for (const url of [
      'mysql://localhost/db',
      'sqlite:',
      'sqlite::memory:',
      'redis://localhost:6379/x',
      'redis://localhost?db=2',
      'postgres://localhost',
      'nonsense',
    ]) {
      const result = await buddy(['sessions', url], { cwd: dir });
      expect(result.code, url).toBe(1);
      oneLine(result.stderr);
      expect(result.stderr).toContain('bad storage URL');
    }
    // The password never shows.
    const secret = await buddy(['sessions', 'postgres://me:hunter2@localhost']);
    expect(secret.stderr).not.toContain('hunter2');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not create a SQLite file that a reading command names by mistake', async () => {
    for (const args of [
      ['sessions', 'sqlite:typo.db'],
      ['export', 'sqlite:typo.db', '-o', 'out.jsonl'],
      ['show', 'sqlite:typo.db', 's1'],
    ]) {
      const result = await buddy(args, { cwd: dir });
      expect(result.code).toBe(1);
      oneLine(result.stderr);
      expect(result.stderr).toContain('no such file');
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to migrate a place into itself', async () => {
    const { url, dbFile } = await seeded();
    const result = await buddy(['migrate', url, `sqlite:${dbFile.replace(dir, `${dir}/.`)}`]);
    expect(result.code).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toContain('are the same place');
  });

  it('names the unreachable server in one line', async () => {
    const redis = await buddy(['sessions', 'redis://127.0.0.1:1']);
    expect(redis.code).toBe(1);
    oneLine(redis.stderr);
    expect(redis.stderr).toContain('cannot reach redis://127.0.0.1:1');
    const postgres = await buddy(['sessions', 'postgres://postgres@127.0.0.1:1/test']);
    expect(postgres.code).toBe(1);
    oneLine(postgres.stderr);
    expect(postgres.stderr).toContain('cannot reach postgres://postgres@127.0.0.1:1/test');
  });

  it('says which package to install when a storage package is missing', async () => {
    // A real failed import of a package that is not installed.
    const missing = (suffix: string) => async (name: string) => import(`${name}${suffix}`);
    const result = await buddy(['sessions', 'redis://127.0.0.1:6379'], {
      importModule: missing('-not-installed'),
    });
    expect(result.code).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toContain('redis URLs need the package @buddy/db-redis');
    expect(result.stderr).toContain('pnpm add @buddy/db-redis ioredis@^6');
    // The driver missing under an installed storage package: a module that imports it, from a
    // directory where it cannot be found.
    const stand = join(dir, 'db-sqlite-without-driver.mjs');
    writeFileSync(stand, "import 'better-sqlite3';\nexport const SqliteStorage = class {};\n");
    const driver = await runBuddy(['sessions', `sqlite:${join(dir, 'x.db')}`], {
      script: './bin-with-importer.ts',
      env: { BUDDY_TEST_PACKAGE: stand },
    });
    expect(driver.code).toBe(1);
    oneLine(driver.stderr);
    expect(driver.stderr).toContain(
      'sqlite URLs need better-sqlite3, which @buddy/db-sqlite loads',
    );
    expect(driver.stderr).toContain('pnpm add better-sqlite3@^12');
    expect(existsSync(join(dir, 'x.db'))).toBe(false);
  });
});

describe('sessions and show', () => {
  it('lists sessions newest first, filtered by user, as text and JSON', async () => {
    const { url } = await seeded();
    const all = await buddy(['sessions', url]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toBe('SESSION\tUSER\tAGENT\tUPDATED\tNAME');
    expect(lines).toHaveLength(1 + 5);
    expect(lines[1]).toMatch(/^anonymous-x\t-\t-\t/);
    const dana = await buddy(['sessions', url, '--user', 'dana', '--json']);
    const infos = JSON.parse(dana.stdout) as {
      sessionId: string;
      userId: string;
      sessionName: string;
    }[];
    expect(infos.map((info) => info.sessionId)).toEqual(['dana-x-1-ß🧠', 'dana-x-0-ß🧠']);
    expect(infos[0]).toMatchObject({ userId: 'dana', sessionName: 'PLAINTEXT-NAME dana 1' });
    const limited = await buddy(['sessions', url, '--limit', '2', '--json']);
    expect(JSON.parse(limited.stdout)).toHaveLength(2);
    expect(
      JSON.parse((await buddy(['sessions', url, '--user', 'nobody', '--json'])).stdout),
    ).toEqual([]);
  });

  it('shows a session with its runs, and names a missing one', async () => {
    const { url } = await seeded();
    const text = await buddy(['show', url, 'dana-x-0-ß🧠']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('session dana-x-0-ß🧠');
    expect(text.stdout).toContain('tool call lookup({"q":"PLAINTEXT-TOOL-ARGUMENT"})');
    expect(text.stdout).toContain('summary (covers 2 runs): PLAINTEXT-SUMMARY');
    const json = JSON.parse((await buddy(['show', url, 'dana-x-0-ß🧠', '--json'])).stdout) as {
      session: { runCount: number };
      runs: { index: number }[];
    };
    expect(json.session.runCount).toBe(3);
    expect(json.runs.map((run) => run.index)).toEqual([0, 1, 2]);
    const missing = await buddy(['show', url, 'nope']);
    expect(missing.code).toBe(1);
    oneLine(missing.stderr);
    expect(missing.stderr).toContain('no session "nope"');
  });
});

describe('export and import', () => {
  it('exports every line valid under ExportRecordSchema, and imports it into an empty place', async () => {
    const source = await seeded();
    const out = join(dir, 'out.jsonl');
    const exported = await buddy(['export', source.url, '-o', out]);
    expect(exported.code, exported.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const records = lines.map((line) => ExportRecordSchema.parse(JSON.parse(line)));
    expect(records[0]).toMatchObject({
      type: 'header',
      format: 'buddy-export',
      version: 1,
      source: source.url,
    });
    expect(records.at(-1)).toEqual({ type: 'end', sessions: 5, runs: 12, memories: 3 });
    expect(records.filter((record) => record.type === 'run')).toHaveLength(source.runs);

    const target = `sqlite:${join(dir, 'target.db')}`;
    const imported = await buddy(['import', target, out]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('Imported 5 sessions (12 runs) and 3 memories');
    const again = join(dir, 'again.jsonl');
    expect((await buddy(['export', target, '-o', again])).code).toBe(0);
    const comparable = (file: string) =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => {
          const {
            createdAt: _c,
            updatedAt: _u,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          return JSON.parse(line).type === 'session' ? JSON.stringify(rest) : line;
        });
    expect(comparable(again)).toEqual(comparable(out));
  });

  it('streams to stdout, and imports from stdin', async () => {
    const source = await seeded();
    const exported = await buddy(['export', source.url, '--user', 'bob']);
    expect(exported.code).toBe(0);
    const first = JSON.parse(exported.stdout.split('\n')[0] as string);
    expect(first).toMatchObject({ type: 'header', userId: 'bob' });
    const target = `sqlite:${join(dir, 'bob.db')}`;
    const imported = await buddy(['import', target], { stdin: exported.stdout });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('Imported 2 sessions (6 runs) and 1 memories');
  });

  it('reports a malformed line by its number and writes nothing, not even the target file', async () => {
    const source = await seeded();
    const good = (await buddy(['export', source.url])).stdout.trim().split('\n');
    const target = join(dir, 'target.db');
    const cases: [string, string[], string][] = [
      [
        'not JSON',
        [...good.slice(0, 4), '{"type": "run", oops', ...good.slice(5)],
        'line 5: not valid JSON',
      ],
      [
        'schema',
        [
          ...good.slice(0, 2),
          JSON.stringify({ ...JSON.parse(good[2] as string), messages: 'x' }),
          ...good.slice(3),
        ],
        'line 3: not a buddy export record: messages',
      ],
      [
        'validator',
        [
          ...good.slice(0, 1),
          JSON.stringify({ ...JSON.parse(good[1] as string), sessionId: 'bad\u0000id' }),
          ...good.slice(2),
        ],
        'line 2: sessionId',
      ],
      ['order', [good[0] as string, ...good.slice(2)], 'line 2: a run of session'],
      ['gap', [...good.slice(0, 3), ...good.slice(4)], 'line 4: run index 2 where 1 was expected'],
      ['cut short', good.slice(0, -1), 'the file ends without its end line'],
      [
        'counts',
        [...good.slice(0, -1), '{"type":"end","sessions":1,"runs":0,"memories":0}'],
        'the end line counts',
      ],
      [
        'version',
        [JSON.stringify({ ...JSON.parse(good[0] as string), version: 2 }), ...good.slice(1)],
        'line 1: export format version 2 is not supported',
      ],
      ['no header', good.slice(1), 'line 1: the file must start with the buddy-export header'],
      ['empty', [''], 'the file is empty'],
    ];
    for (const [what, lines, message] of cases) {
      const file = join(dir, `${what}.jsonl`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      const result = await buddy(['import', `sqlite:${target}`, file]);
      expect(result.code, what).toBe(1);
      oneLine(result.stderr);
      expect(result.stderr, what).toContain(message);
      expect(existsSync(target), what).toBe(false);
    }
    const missing = await buddy(['import', `sqlite:${target}`, join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
    expect(existsSync(target)).toBe(false);
  });

  it('stops on an existing session with --on-conflict fail, before writing anything', async () => {
    const source = await seeded();
    const file = join(dir, 'all.jsonl');
    await buddy(['export', source.url, '-o', file]);
    // The target holds one of the sessions already (the last one of the file).
    const target = await seeded('target.db', { sessionsPerUser: 0 });
    const before = (await buddy(['export', target.url])).stdout.split('\n').slice(1).join('\n');
    const result = await buddy(['import', target.url, file]);
    expect(result.code).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toContain('session "anonymous-x" already exists');
    expect(result.stderr).toContain('nothing was imported');
    const after = (await buddy(['export', target.url])).stdout.split('\n').slice(1).join('\n');
    expect(after).toBe(before);
  });

  it('skips or replaces existing sessions on request', async () => {
    const source = await seeded();
    const file = join(dir, 'all.jsonl');
    await buddy(['export', source.url, '-o', file]);
    const target = `sqlite:${join(dir, 'target.db')}`;
    expect((await buddy(['import', target, file])).code).toBe(0);
    const skipped = await buddy(['import', target, file, '--on-conflict', 'skip']);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toContain('Imported 0 sessions (0 runs) and 0 memories');
    expect(skipped.stdout).toContain('skipped 5 sessions and 3 memories');
    const replaced = await buddy(['import', target, file, '--on-conflict', 'replace', '--json']);
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ sessions: 5, runs: 12, memories: 3 });
    // Replacing never duplicated a run.
    const shown = JSON.parse((await buddy(['show', target, 'dana-x-0-ß🧠', '--json'])).stdout) as {
      runs: unknown[];
    };
    expect(shown.runs).toHaveLength(3);
  });

  it('leaves no file behind when an export fails half way, and says when it had to skip a session', async () => {
    const source = await seeded();
    const raw = new Database(source.dbFile);
    raw
      .prepare('UPDATE "buddy_sessions$runs" SET run = ? WHERE session_id = ? AND idx = 1')
      .run('{"broken": true}', 'bob-x-0-ß🧠');
    const out = join(dir, 'out.jsonl');
    const failed = await buddy(['export', source.url, '-o', out]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('STORAGE_CORRUPT');
    expect(failed.stderr).toContain('bob-x-0-ß🧠');
    expect(
      readdirSync(dir).filter((name) => name.endsWith('.jsonl') || name.includes('partial')),
    ).toEqual([]);
    // A session whose record cannot be read is skipped by listing: the rest is exported, exit 1.
    raw.prepare('DELETE FROM "buddy_sessions$runs" WHERE session_id = ?').run('bob-x-0-ß🧠');
    raw
      .prepare(
        `UPDATE buddy_sessions SET state = '{"cart": [oops', created_at = 'yesterday' WHERE session_id = ?`,
      )
      .run('bob-x-0-ß🧠');
    raw.close();
    const partial = await buddy(['export', source.url, '-o', out]);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain('buddy: warning:');
    expect(partial.stderr).toContain('missing 1 session(s)');
    expect(exportLines(out).at(-1)).toBe('{"type":"end","sessions":4,"runs":9,"memories":3}');
    const nowhere = await buddy(['export', source.url, '-o', join(dir, 'no', 'such', 'dir.jsonl')]);
    expect(nowhere.code).toBe(1);
    oneLine(nowhere.stderr);
    expect(nowhere.stderr).toContain('cannot write the export to');
  });

  it('draws progress on a terminal only', async () => {
    const source = await seeded();
    const file = join(dir, 'all.jsonl');
    const plain = await buddy(['export', source.url, '-o', file]);
    expect(plain.stderr).not.toContain('\r');
    const target = `sqlite:${join(dir, 'target.db')}`;
    const drawn = await buddy(['import', target, file], { tty: true });
    expect(drawn.code).toBe(0);
    expect(drawn.stderr).toContain('\r\u001b[2Kimport ');
    expect(drawn.stderr).toMatch(/import █*░* +\d+%/);
  });
});
