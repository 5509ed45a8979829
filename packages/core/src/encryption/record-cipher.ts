/**
 * The cipher behind `encryptedStorage` and `encryptedMemoryDb` (SPEC §15.3): AES-256-GCM from
 * `node:crypto`, a fresh random 96-bit IV for every record, and associated data that binds each
 * ciphertext to where it belongs (the session id and the field; a memory's id and user), so a
 * record copied elsewhere fails authentication instead of decrypting.
 *
 * A ciphertext is one string, `be1.<keyId>.<base64url(iv ‖ ciphertext ‖ tag)>`: the key id says
 * which key wrote it, so keys can rotate (`previousKeys` are tried by id, never by guessing).
 * The key id is the first 48 bits of a SHA-256 over a fixed label and the key: it identifies a
 * key without revealing anything usable about it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { BuddyError, type BuddyErrorDetails } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import { readOptions } from '../validation/options.ts';

/** A 256-bit key: 32 bytes, or base64 (standard or url-safe) text of 32 bytes. */
export type EncryptionKey = Uint8Array | string;

/** Keys of `encryptedStorage` / `encryptedMemoryDb`. */
export interface EncryptionKeys {
  /** Encrypts every write, and decrypts what it wrote. */
  key: EncryptionKey;
  /**
   * Older keys, for reading records they wrote (rotation): new writes always use `key`. Drop a
   * key from here once `buddy rekey` has re-encrypted everything it wrote.
   */
  previousKeys?: readonly EncryptionKey[];
}

const VERSION_PREFIX = 'be1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_LABEL = 'buddy encryption key id v1\0';
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

function invalidKey(what: string, problem: string): BuddyError {
  // Never the key itself, not even a part of it.
  return new BuddyError({
    code: 'INVALID_ARGUMENT',
    message: `${what} must be 32 bytes (a Uint8Array, or base64 text of 32 bytes), ${problem}`,
  });
}

/** Checks and copies one key: 32 bytes, or base64 text of 32 bytes. */
export function readEncryptionKey(value: unknown, what: string): Buffer {
  if (value instanceof Uint8Array) {
    if (value.length !== KEY_BYTES) throw invalidKey(what, `got ${value.length} bytes`);
    return Buffer.from(value);
  }
  if (typeof value === 'string') {
    const text = value.trim();
    if (!BASE64.test(text)) throw invalidKey(what, 'got text that is not base64');
    const bytes = Buffer.from(
      text,
      text.includes('-') || text.includes('_') ? 'base64url' : 'base64',
    );
    if (bytes.length !== KEY_BYTES) throw invalidKey(what, `got base64 of ${bytes.length} bytes`);
    return bytes;
  }
  throw invalidKey(what, `got ${describeValue(value === null ? null : typeof value)}`);
}

/** The id stored with every record a key encrypts (8 base64url characters). */
export function encryptionKeyId(key: EncryptionKey): string {
  return idOf(readEncryptionKey(key, 'key'));
}

/**
 * Whether a stored string is a ciphertext of `encryptedStorage` / `encryptedMemoryDb` (any key):
 * for tools that convert a store to encryption row by row and must not encrypt twice.
 */
export function isEncryptedText(value: unknown): value is string {
  return RecordCipher.isCiphertext(value);
}

/** What a failed decryption names: the record, for the message, and its ids, for `details`. */
export interface CipherSubject {
  /** E.g. `the state of session "s1"`. */
  what: string;
  details: BuddyErrorDetails;
}

/** Encrypts and decrypts records with one current key and any number of older ones. */
export class RecordCipher {
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #keys = new Map<string, Buffer>();

  constructor(keys: EncryptionKeys, who: string) {
    this.#key = readEncryptionKey(keys.key, `${who}: option 'key'`);
    this.keyId = idOf(this.#key);
    this.#keys.set(this.keyId, this.#key);
    if (keys.previousKeys !== undefined) {
      if (!Array.isArray(keys.previousKeys)) {
        throw new BuddyError({
          code: 'INVALID_ARGUMENT',
          message: `${who}: option 'previousKeys' must be an array of keys, got ${describeValue(keys.previousKeys)}`,
        });
      }
      keys.previousKeys.forEach((key: unknown, index) => {
        const bytes = readEncryptionKey(key, `${who}: option 'previousKeys[${index}]'`);
        const id = idOf(bytes);
        if (!this.#keys.has(id)) this.#keys.set(id, bytes);
      });
    }
  }

  /** Whether `value` looks like a ciphertext of this format (any key). */
  static isCiphertext(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(`${VERSION_PREFIX}.`);
  }

  /** Encrypts `plaintext` under the current key, bound to `associatedData`. */
  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const payload = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    return `${VERSION_PREFIX}.${this.keyId}.${payload}`;
  }

  /**
   * Decrypts a ciphertext bound to `associatedData`; `DECRYPTION_FAILED` naming `subject` when it
   * is not one, was written by a key not given, or fails authentication (wrong key, altered,
   * moved from another session or memory). Never returns garbage.
   */
  decrypt(value: unknown, associatedData: string, subject: CipherSubject): string {
    if (!RecordCipher.isCiphertext(value)) {
      throw decryptionFailed(
        subject,
        `${subject.what} is not encrypted (was it written without encryption?)`,
      );
    }
    const [, keyId = '', payload = ''] = value.split('.');
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      throw decryptionFailed(
        subject,
        `Cannot decrypt ${subject.what}: it was encrypted with key id ${describeValue(keyId)}, which is neither 'key' (${this.keyId}) nor one of 'previousKeys'`,
        { keyId },
      );
    }
    const bytes = Buffer.from(payload, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) {
      throw decryptionFailed(
        subject,
        `Cannot decrypt ${subject.what}: the ciphertext is cut short`,
        {
          keyId,
        },
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch (error) {
      throw decryptionFailed(
        subject,
        `Cannot decrypt ${subject.what} with key id ${describeValue(keyId)}: wrong key, or the record was altered or moved from elsewhere`,
        { keyId },
        error,
      );
    }
  }

  /** Whether a ciphertext names a key id this cipher does not have (a configuration problem). */
  hasKeyFor(value: string): boolean {
    return this.#keys.has(value.split('.')[1] ?? '');
  }
}

function idOf(bytes: Buffer): string {
  return createHash('sha256').update(KEY_ID_LABEL).update(bytes).digest('base64url').slice(0, 8);
}

function decryptionFailed(
  subject: CipherSubject,
  message: string,
  extra: BuddyErrorDetails = {},
  cause?: unknown,
): BuddyError {
  return new BuddyError({
    code: 'DECRYPTION_FAILED',
    message,
    details: { ...subject.details, ...extra },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The associated data of one record: a fixed label, the kind of record and its ids, as JSON. */
export function associatedData(kind: string, ...ids: (string | number)[]): string {
  return JSON.stringify(['buddy', 1, kind, ...ids]);
}

/**
 * The arguments of a wrapper (`encryptedStorage`, `encryptedMemoryDb`), checked alike: `inner` is a
 * v1 `contract` (`what` names the argument), `options` an object of `allowed` keys with `key` set.
 */
export function readWrapperArguments<T extends EncryptionKeys>(
  who: string,
  inner: unknown,
  what: { argument: string; contract: string },
  options: unknown,
  allowed: readonly (keyof T & string)[],
): T {
  const checked = readOptions<T>(options, `${who}: options`, allowed);
  if (
    typeof inner !== 'object' ||
    inner === null ||
    (inner as { specificationVersion?: unknown }).specificationVersion !== 'v1'
  ) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: ${what.argument} must be a ${what.contract} (specificationVersion 'v1'), got ${describeValue(inner)}`,
    });
  }
  if (checked.key === undefined) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${who}: option 'key' is required (32 bytes, or base64 text of 32 bytes)`,
    });
  }
  return checked as T;
}
