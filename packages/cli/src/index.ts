/**
 * `@buddy/cli`: the `buddy` command (SPEC §15.1) — `sessions`, `show`, `export`, `import`,
 * `migrate`, `forget`, `prune`, `rekey` over storage URLs (`sqlite:`, `redis://`,
 * `postgres://`). The storage packages are optional peers, loaded only for the URLs used. This
 * entry exposes the same as a function, for scripts and tests.
 */
export type { CliIo, CliOutput } from './cli-io.ts';
export { COMMANDS, runCli } from './run-cli.ts';
export { parseStorageUrl, redactUrl, type StorageUrl } from './storage-url.ts';
