import { describe, expect, it } from 'vitest';
import { collectStream } from './collect-stream.ts';

describe('collectStream', () => {
  it('reads an async iterable to the end, in order', async () => {
    async function* numbers() {
      yield 1;
      yield 2;
      yield 3;
    }
    expect(await collectStream(numbers())).toEqual([1, 2, 3]);
  });
});
