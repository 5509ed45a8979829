import { cosineSimilarity } from '@buddy/core/adapter-utils';
import { describe, expect, it } from 'vitest';
import { encodeEmbedding, flatHashReply, rankEmbeddings } from './redis-vector-search.ts';

/** `bytes` copied to an odd offset inside a larger buffer, as reply slices often are. */
function unaligned(bytes: Buffer, offset: number): Buffer {
  const backing = Buffer.alloc(bytes.length + offset);
  bytes.copy(backing, offset);
  return backing.subarray(offset);
}

describe('rankEmbeddings', () => {
  const vectors = [
    [0.3, -0.2, 0.9],
    [1, 2, 3],
    [2, 4, 6],
    [-1, 0, 0],
    [0, 0, 0],
    [0.1, 0.1, 0.1],
  ];
  const query = [0.7, 0.11, -0.3];

  it('gives the scores of cosineSimilarity exactly, best first, ties by id, at any byte offset', () => {
    const flat = vectors.flatMap((vector, index) => [
      Buffer.from(`id-${5 - index}`),
      unaligned(encodeEmbedding(vector), index % 8),
    ]);
    const ranked = rankEmbeddings(query, flat, 10);
    const expected = vectors
      .map((vector, index) => ({ id: `id-${5 - index}`, score: cosineSimilarity(query, vector) }))
      .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    expect(ranked.map(({ id, score }) => ({ id, score }))).toEqual(expected);
    // [1,2,3] and [2,4,6] tie exactly: the smaller id first.
    const tied = ranked.filter((entry) => entry.id === 'id-4' || entry.id === 'id-3');
    expect(tied[0]?.score).toBe(tied[1]?.score);
    expect(tied.map((entry) => entry.id)).toEqual(['id-3', 'id-4']);
    expect(rankEmbeddings(query, flat, 2).map((entry) => entry.id)).toEqual(
      expected.slice(0, 2).map((entry) => entry.id),
    );
  });

  it('compares only vectors of the query length, and hands back copies of the winners', () => {
    const shared = Buffer.concat([encodeEmbedding([1, 0]), encodeEmbedding([1, 0, 0])]);
    const flat = [
      Buffer.from('two'),
      shared.subarray(0, 16),
      Buffer.from('three'),
      shared.subarray(16),
    ];
    const [winner] = rankEmbeddings([1, 0, 0], flat, 5);
    expect(winner?.id).toBe('three');
    expect(rankEmbeddings([1, 0, 0], flat, 5)).toHaveLength(1);
    const copy = Buffer.from(shared.subarray(16));
    shared.fill(0);
    expect(winner?.bytes.equals(copy)).toBe(true);
  });
});

describe('flatHashReply', () => {
  it('reads flat arrays, pairs and Maps alike', () => {
    const flat = [Buffer.from('a'), Buffer.from('1'), Buffer.from('b'), Buffer.from('2')];
    const pairs = [
      [Buffer.from('a'), Buffer.from('1')],
      [Buffer.from('b'), Buffer.from('2')],
    ];
    const map = new Map([
      ['a', Buffer.from('1')],
      ['b', Buffer.from('2')],
    ]);
    for (const reply of [flat, pairs, map]) {
      expect(flatHashReply(reply).map(String)).toEqual(['a', '1', 'b', '2']);
    }
    expect(flatHashReply(null)).toEqual([]);
  });
});
