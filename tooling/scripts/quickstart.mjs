#!/usr/bin/env node
// The README's first command: installs the workspace and runs the offline demo.
// Needs only Node >= 20.19 and the npm registry; no API keys, no other network.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PNPM = '12.4.2';
const env = { ...process.env };
// better-sqlite3 compiles a native addon; build it against the local Node headers when present.
if (existsSync('/usr/include/node') && env.npm_config_nodedir === undefined)
  env.npm_config_nodedir = '/usr';

function run(command) {
  console.log(`\n$ ${command}`);
  execSync(command, { stdio: 'inherit', env });
}

function pnpmVersion() {
  try {
    return execSync('pnpm --version', { env, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

try {
  if (pnpmVersion() !== PNPM) run(`npm install -g pnpm@${PNPM}`);
  run('pnpm install');
  run('pnpm demo');
} catch (error) {
  console.error(`\nquickstart failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
