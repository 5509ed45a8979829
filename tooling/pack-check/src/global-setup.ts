/**
 * Runs once per `vitest run`, before any test file: builds the published packages, packs each
 * one once (`pnpm pack` rewrites `workspace:` ranges as publishing does), and installs the
 * tarballs once into a scratch project OUTSIDE the workspace with the READMEs' own install lines
 * and `allowBuilds` block. Every test file then reuses that one installation (`inject('scratch')`).
 * Each step prints a line, so a slow step (a native build of better-sqlite3 on a cold store) is
 * visible instead of silent.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { readAllowBuilds, readInstallLines } from './readme-install-lines.ts';
import { publishedPackages, root } from './workspace.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The scratch project with every tarball installed. */
    scratch: string;
    /** Package folder name (`db-sqlite`) → its tarball. */
    tarballs: Record<string, string>;
  }
}

const execFileAsync = promisify(execFile);
const env = { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' };

async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd,
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `pack-check: \`${command} ${args.join(' ')}\` failed in ${cwd}\n${stdout}\n${stderr}`,
    );
  }
}

/** Builds, packs and installs; provides `scratch` and `tarballs`; removes them afterwards. */
export default async function setup(project: TestProject): Promise<() => void> {
  const started = Date.now();
  const say = (text: string) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    console.log(`[pack-check ${seconds}s] ${text}`);
  };
  const packages = publishedPackages();
  const work = mkdtempSync(join(tmpdir(), 'buddy-pack-'));

  say(`building ${packages.length} packages (tsc -b)`);
  await run(
    join(root, 'node_modules/.bin/tsc'),
    ['-b', ...packages.map((name) => `packages/${name}`)],
    root,
  );

  say(`packing ${packages.join(', ')}`);
  const packed = join(work, 'tarballs');
  mkdirSync(packed);
  await Promise.all(
    packages.map((name) =>
      run('pnpm', ['pack', '--pack-destination', packed], join(root, 'packages', name)),
    ),
  );
  const tarballs: Record<string, string> = {};
  for (const file of readdirSync(packed)) {
    const match = /^buddy-(.+)-\d+\.\d+\.\d+(?:-[\w.]+)?\.tgz$/.exec(file);
    if (match?.[1] !== undefined) tarballs[match[1]] = join(packed, file);
  }

  // The READMEs' install lines, with the unpublished @buddy packages taken from the tarballs.
  const dependencies: Record<string, string> = {};
  const devDependencies: Record<string, string> = {};
  for (const line of readInstallLines()) {
    for (const spec of line.specs) {
      const folder = spec.name.startsWith('@buddy/') ? spec.name.slice('@buddy/'.length) : '';
      const tarball = tarballs[folder];
      const value = tarball === undefined ? (spec.range ?? 'latest') : `file:${tarball}`;
      const target =
        line.dev && dependencies[spec.name] === undefined ? devDependencies : dependencies;
      target[spec.name] = value;
      if (target === dependencies) delete devDependencies[spec.name];
    }
  }
  const scratch = join(work, 'scratch');
  mkdirSync(scratch);
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify(
      { name: 'scratch', private: true, type: 'module', dependencies, devDependencies },
      null,
      2,
    ),
  );
  const allowBuilds = Object.entries(readAllowBuilds());
  writeFileSync(
    join(scratch, 'pnpm-workspace.yaml'),
    allowBuilds.length === 0
      ? ''
      : `allowBuilds:\n${allowBuilds.map(([name, allowed]) => `  ${name}: ${allowed}`).join('\n')}\n`,
  );
  say(
    `installing the tarballs with the README install lines in ${scratch} (a cold store compiles better-sqlite3 here, about a minute)`,
  );
  await run('pnpm', ['install', '--prefer-offline', '--reporter=append-only'], scratch);
  say('installed; running the checks');

  project.provide('scratch', scratch);
  project.provide('tarballs', tarballs);
  return () => rmSync(work, { recursive: true, force: true });
}
