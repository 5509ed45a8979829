import { describe, expect, it } from 'vitest';
import { RecentMarks } from './recent-marks.ts';

describe('RecentMarks', () => {
  it('holds a mark for ttlMs, then not', () => {
    const marks = new RecentMarks(1_000, 10);
    marks.mark('dana', 5_000);
    expect(marks.has('dana', 5_999)).toBe(true);
    expect(marks.has('dana', 6_000)).toBe(false);
    expect(marks.has('lee', 5_000)).toBe(false);
  });

  it('stays within maxKeys however many keys pass through, dropping the oldest', () => {
    const marks = new RecentMarks(60_000, 100);
    for (let index = 0; index < 50_000; index++) marks.mark(`user-${index}`, 1_000);
    expect(marks.size).toBe(100);
    expect(marks.has('user-49999', 1_000)).toBe(true);
    expect(marks.has('user-49900', 1_000)).toBe(true);
    expect(marks.has('user-49899', 1_000)).toBe(false);
  });

  it('drops expired marks as soon as it marks again, and keeps a re-marked key', () => {
    const marks = new RecentMarks(1_000, 100);
    marks.mark('a', 0);
    marks.mark('b', 100);
    marks.mark('c', 200);
    marks.mark('a', 900); // re-marked: now the newest
    marks.mark('d', 1_250); // b (100) and c (200) are expired at 1,250; a (900) is not
    expect(marks.size).toBe(2);
    expect(marks.has('a', 1_250)).toBe(true);
    expect(marks.has('d', 1_250)).toBe(true);
    marks.delete('a');
    expect(marks.has('a', 1_250)).toBe(false);
  });
});
