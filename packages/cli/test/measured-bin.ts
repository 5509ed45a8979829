/**
 * The entry `bundleMeasuredBin()` bundles: `runCli` with `@buddy/db-sqlite` linked in statically
 * (a bundle cannot follow the CLI's import of a package by name), reporting the peak RSS at exit.
 */
import { writeSync } from 'node:fs';
import * as sqlite from '@buddy/db-sqlite';
import { runCli } from '../src/run-cli.ts';

process.on('exit', () => {
  writeSync(2, `\nbuddy-test-max-rss-kb=${process.resourceUsage().maxRSS}\n`);
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  importModule: async (name) => {
    if (name === '@buddy/db-sqlite') return sqlite;
    throw new Error(`measured-bin: only @buddy/db-sqlite is linked in, not ${name}`);
  },
});
