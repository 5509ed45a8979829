/**
 * Reading an encrypted place without its key gives ciphertext, not data: the commands that read
 * sessions and memories refuse that (`DECRYPTION_FAILED`, asking for the key) instead of
 * exporting, migrating or showing ciphertext as if it were the conversation.
 */
import {
  type BuddyError,
  ENCRYPTED_STATE_KEY,
  isEncryptedText,
  type SessionInfo,
  type SessionRecord,
  type UserMemory,
} from '@buddy/core';
import { cliFailure } from './cli-errors.ts';
import { KEY_ENV } from './encryption-keys.ts';

function encryptedError(what: string, url: string): BuddyError {
  return cliFailure(
    'DECRYPTION_FAILED',
    `${what} in ${url} is encrypted: give its key (--key-file <path> or $${KEY_ENV})`,
  );
}

/** Throws when a record read without a key is ciphertext. */
export function refuseCiphertextSession(record: SessionRecord | SessionInfo, url: string): void {
  const state = (record as Partial<SessionRecord>).sessionState;
  if (
    (state !== undefined && Object.hasOwn(state, ENCRYPTED_STATE_KEY)) ||
    isEncryptedText(record.sessionName)
  ) {
    throw encryptedError(`session ${JSON.stringify(record.sessionId)}`, url);
  }
}

/** Throws when a memory read without a key is ciphertext. */
export function refuseCiphertextMemory(memory: UserMemory, url: string): void {
  if (isEncryptedText(memory.memory)) {
    throw encryptedError(
      `memory ${JSON.stringify(memory.id)} of user ${JSON.stringify(memory.userId)}`,
      url,
    );
  }
}
