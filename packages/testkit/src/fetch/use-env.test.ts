import { afterAll, describe, expect, it } from 'vitest';
import { useEnv } from './use-env.ts';

describe('useEnv', () => {
  const before = process.env.BUDDY_TEST_SET;
  process.env.BUDDY_TEST_UNSET = 'was set';
  afterAll(() => {
    delete process.env.BUDDY_TEST_UNSET;
  });

  describe('inside the block', () => {
    useEnv({ BUDDY_TEST_SET: 'value', BUDDY_TEST_UNSET: undefined });

    it('sets and removes the variables for each test', () => {
      expect(process.env.BUDDY_TEST_SET).toBe('value');
      expect('BUDDY_TEST_UNSET' in process.env).toBe(false);
      process.env.BUDDY_TEST_SET = 'changed by the test';
    });

    it('applies them again for the next test', () => {
      expect(process.env.BUDDY_TEST_SET).toBe('value');
    });
  });

  it('restores the previous values after the block', () => {
    expect(process.env.BUDDY_TEST_SET).toBe(before);
    expect(process.env.BUDDY_TEST_UNSET).toBe('was set');
  });
});
