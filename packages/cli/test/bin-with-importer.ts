/**
 * `buddy` as a child process whose storage packages all resolve to one module file
 * (`BUDDY_TEST_PACKAGE`): with Node's own resolver, that file's missing imports fail exactly as a
 * missing package does in a user's project.
 */
import { pathToFileURL } from 'node:url';
import { runCli } from '../src/run-cli.ts';

const stand = process.env.BUDDY_TEST_PACKAGE as string;
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  importModule: () => import(pathToFileURL(stand).href),
});
