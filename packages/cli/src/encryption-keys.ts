/**
 * Where the CLI gets its encryption keys (SPEC §15.3). A key is base64 text of 32 random bytes
 * (`openssl rand -base64 32`), read from a file given on the command line or from the
 * environment; the key itself never appears in arguments (they are visible to every user of the
 * machine in `ps`) and never in messages.
 *
 * - current key: `--key-file <path>`, else `BUDDY_ENCRYPTION_KEY`;
 * - older keys, read only: `--previous-key-file <path>` (repeatable), plus
 *   `BUDDY_PREVIOUS_ENCRYPTION_KEYS` (comma-separated);
 * - `buddy rekey`'s new key: `--new-key-file <path>`, else `BUDDY_NEW_ENCRYPTION_KEY`.
 *
 * With a current key, every URL of the command is read and written through `encryptedStorage`
 * / `encryptedMemoryDb`; without one, in clear.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EncryptionKeys } from '@buddy/core';
import { cliFailure } from './cli-errors.ts';
import type { CliIo } from './cli-io.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/** Environment variable of the current key. */
export const KEY_ENV = 'BUDDY_ENCRYPTION_KEY';
/** Environment variable of older keys (comma-separated). */
export const PREVIOUS_KEYS_ENV = 'BUDDY_PREVIOUS_ENCRYPTION_KEYS';
/** Environment variable of `buddy rekey`'s new key. */
export const NEW_KEY_ENV = 'BUDDY_NEW_ENCRYPTION_KEY';

function decodeKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed)) {
    throw cliFailure(
      'INVALID_ARGUMENT',
      `${source} must hold base64 text of 32 bytes (openssl rand -base64 32); it is not base64`,
    );
  }
  const bytes = Buffer.from(trimmed, /[-_]/.test(trimmed) ? 'base64url' : 'base64');
  if (bytes.length !== 32) {
    throw cliFailure(
      'INVALID_ARGUMENT',
      `${source} must hold base64 text of 32 bytes (openssl rand -base64 32); it holds ${bytes.length} bytes`,
    );
  }
  return bytes;
}

function readKeyFile(io: CliIo, path: string): Buffer {
  const full = resolve(io.cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw cliFailure(
      'INVALID_ARGUMENT',
      `cannot read key file ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      error,
    );
  }
  return decodeKey(text, `key file ${JSON.stringify(path)}`);
}

/** The key of `--<flag>` or of the environment variable, if any. */
export function readKey(io: CliIo, file: string | undefined, envName: string): Buffer | undefined {
  if (file !== undefined) return readKeyFile(io, file);
  const fromEnv = io.env[envName];
  if (fromEnv === undefined || fromEnv === '') return undefined;
  return decodeKey(fromEnv, envName);
}

/** Older keys: the files, then the environment's. */
export function readPreviousKeys(io: CliIo, files: readonly string[]): Buffer[] {
  const keys = files.map((file) => readKeyFile(io, file));
  const fromEnv = io.env[PREVIOUS_KEYS_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    fromEnv
      .split(',')
      .filter((part) => part.trim() !== '')
      .forEach((part, index) => {
        keys.push(decodeKey(part, `${PREVIOUS_KEYS_ENV} (key ${index + 1})`));
      });
  }
  return keys;
}

/** `{ key, previousKeys }` for the wrappers, or `undefined` without a current key. */
export function encryptionKeys(
  key: Buffer | undefined,
  previousKeys: readonly Buffer[],
): EncryptionKeys | undefined {
  if (key === undefined) {
    if (previousKeys.length > 0) {
      throw cliFailure(
        'INVALID_ARGUMENT',
        `previous keys were given without a current key (--key-file or ${KEY_ENV})`,
      );
    }
    return undefined;
  }
  return previousKeys.length === 0 ? { key } : { key, previousKeys };
}

/** The keys of a command's `--key-file` / `--previous-key-file` options and the environment. */
export function keysFromOptions(
  io: CliIo,
  keyFile: string | undefined,
  previousKeyFiles: readonly string[],
): EncryptionKeys | undefined {
  return encryptionKeys(readKey(io, keyFile, KEY_ENV), readPreviousKeys(io, previousKeyFiles));
}
