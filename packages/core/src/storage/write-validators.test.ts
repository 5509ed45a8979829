/**
 * `assertUpsertSessionInput` and `restoreTimes`: the times are checked in one place for every
 * backend, and a storage that does not declare `capabilities.restoresTimes` (or passes nothing,
 * as backends written before it do) refuses them instead of ignoring them.
 */
import { expectBuddyThrow } from '@buddy/testkit/fetch';
import { describe, expect, it } from 'vitest';
import { encryptedStorage } from '../encryption/encrypted-storage.ts';
import { InMemoryStorage } from '../in-memory/in-memory-storage.ts';
import { assertRestoreTimes, assertUpsertSessionInput, MAX_EPOCH_MS } from './write-validators.ts';

const restoring = { backend: 'test', capabilities: { restoresTimes: true } };

describe('restoreTimes in assertUpsertSessionInput', () => {
  it('accepts integer epoch ms from 0 to MAX_EPOCH_MS with createdAt <= updatedAt', () => {
    for (const times of [
      { createdAt: 0, updatedAt: 0 },
      { createdAt: 1, updatedAt: 2 },
      { createdAt: MAX_EPOCH_MS, updatedAt: MAX_EPOCH_MS },
    ]) {
      expect(() =>
        assertUpsertSessionInput({ sessionId: 's', restoreTimes: times }, restoring),
      ).not.toThrow();
    }
  });

  it.each([
    ['null', null, 'restoreTimes must be an object, got null'],
    ['a number', 5, 'restoreTimes must be an object, got 5'],
    ['a missing createdAt', { updatedAt: 1 }, 'restoreTimes.createdAt must be epoch milliseconds'],
    ['a negative time', { createdAt: -1, updatedAt: 1 }, 'restoreTimes.createdAt'],
    ['a fraction', { createdAt: 1, updatedAt: 1.25 }, 'got 1.25'],
    ['NaN', { createdAt: Number.NaN, updatedAt: 1 }, 'got NaN'],
    ['-Infinity', { createdAt: 0, updatedAt: Number.NEGATIVE_INFINITY }, 'got -Infinity'],
    ['a time past a Date', { createdAt: 0, updatedAt: MAX_EPOCH_MS + 1 }, `to ${MAX_EPOCH_MS}`],
    ['a bigint', { createdAt: 1n, updatedAt: 2 }, 'restoreTimes.createdAt'],
    ['a Date', { createdAt: new Date(1), updatedAt: 2 }, 'restoreTimes.createdAt'],
    ['an extra key', { createdAt: 1, updatedAt: 2, at: 3 }, "unknown option 'at'"],
    ['createdAt after updatedAt', { createdAt: 3, updatedAt: 2 }, '(3) must not be after'],
  ])('refuses %s with INVALID_ARGUMENT naming it', (_label, value, message) => {
    const error = expectBuddyThrow(() =>
      assertUpsertSessionInput({ sessionId: 's', restoreTimes: value }, restoring),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(message);
    // The same check is exported for import tools.
    expect(expectBuddyThrow(() => assertRestoreTimes(value)).message).toBe(error.message);
  });

  it('refuses restoreTimes for a storage that does not declare restoresTimes, or says nothing', () => {
    const input = { sessionId: 's', restoreTimes: { createdAt: 1, updatedAt: 2 } };
    for (const storage of [
      undefined,
      { backend: 'legacy' },
      { backend: 'legacy', capabilities: {} },
      { backend: 'legacy', capabilities: { restoresTimes: false } },
    ]) {
      const error = expectBuddyThrow(() => assertUpsertSessionInput(input, storage));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('capabilities.restoresTimes');
      expect(error.message).toContain('nothing was written');
      if (storage !== undefined) expect(error.message).toContain('this "legacy" storage');
    }
    // Without restoreTimes nothing changes for those storages.
    expect(() => assertUpsertSessionInput({ sessionId: 's' })).not.toThrow();
  });
});

describe('encryptedStorage and restoreTimes', () => {
  it('passes the capability and the times of the wrapped storage through, in clear', async () => {
    const inner = new InMemoryStorage();
    const storage = encryptedStorage(inner, { key: Buffer.alloc(32, 1) });
    expect(storage.capabilities?.restoresTimes).toBe(true);
    const record = await storage.upsertSession({
      sessionId: 's',
      sessionState: { secret: 'x' },
      restoreTimes: { createdAt: 10, updatedAt: 20 },
    });
    expect(record).toMatchObject({ createdAt: 10, updatedAt: 20, sessionState: { secret: 'x' } });
    expect(await inner.getSession('s')).toMatchObject({ createdAt: 10, updatedAt: 20 });
  });

  it('refuses restoreTimes over a storage that does not restore times, before writing', async () => {
    class PlainStorage extends InMemoryStorage {
      override readonly capabilities = {};
    }
    const inner = new PlainStorage();
    const storage = encryptedStorage(inner, { key: Buffer.alloc(32, 1) });
    expect(storage.capabilities?.restoresTimes).toBeUndefined();
    await expect(
      storage.upsertSession({ sessionId: 's', restoreTimes: { createdAt: 1, updatedAt: 2 } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await inner.getSession('s')).toBeUndefined();
  });
});
