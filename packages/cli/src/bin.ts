#!/usr/bin/env node
/**
 * The `buddy` executable: runs `runCli` with this process's arguments, streams and environment,
 * and exits with its code once the output is flushed.
 */
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
});
