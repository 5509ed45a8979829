/**
 * Storage URLs: the three forms, what each names, passwords kept out of messages, and what is
 * the same place.
 */
import { BuddyError } from '@buddy/core';
import { describe, expect, it } from 'vitest';
import { parseStorageUrl, redactUrl, samePlace } from './storage-url.ts';

describe('parseStorageUrl', () => {
  it('reads the three forms', () => {
    expect(parseStorageUrl('sqlite:agent.db')).toMatchObject({ kind: 'sqlite', file: 'agent.db' });
    expect(parseStorageUrl('sqlite:///var/lib/agent.db')).toMatchObject({
      kind: 'sqlite',
      file: '/var/lib/agent.db',
    });
    expect(parseStorageUrl('redis://127.0.0.1:6380/2?prefix=app:')).toEqual({
      kind: 'redis',
      url: 'redis://127.0.0.1:6380/2',
      prefix: 'app:',
      display: 'redis://127.0.0.1:6380/2?prefix=app:',
    });
    expect(parseStorageUrl('rediss://cache:6379')).toMatchObject({
      kind: 'redis',
      url: 'rediss://cache:6379',
    });
    expect(
      parseStorageUrl('postgres://me:secret@db:5432/app?schema=buddy&sslmode=require'),
    ).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://me:secret@db:5432/app?sslmode=require',
      schema: 'buddy',
      display: 'postgres://me:***@db:5432/app?schema=buddy&sslmode=require',
    });
    expect(parseStorageUrl('postgresql://me@db/app')).toMatchObject({ kind: 'postgres' });
  });

  it('refuses anything else with INVALID_ARGUMENT naming the URL without its password', () => {
    for (const url of [
      '',
      'sqlite:',
      'sqlite::memory:',
      'mysql://x/y',
      'redis://h:1/db',
      'redis://h:1?ttl=5',
      'redis://h:1?prefix=',
      'postgres://u:pw@h',
      'postgres://u:pw@h/db?schema=',
      'agent.db',
    ]) {
      let caught: unknown;
      try {
        parseStorageUrl(url);
      } catch (error) {
        caught = error;
      }
      expect(BuddyError.is(caught, 'INVALID_ARGUMENT'), url).toBe(true);
      expect((caught as Error).message).not.toContain(':pw@');
    }
  });

  it('redacts passwords and tells the same place apart', () => {
    expect(redactUrl('redis://:hunter2@cache:6379')).toBe('redis://:***@cache:6379');
    expect(redactUrl('sqlite:a:b@c.db')).toBe('sqlite:a:b@c.db');
    const resolve = (file: string) => `/work/${file.replace(/^\.\//, '')}`;
    expect(
      samePlace(parseStorageUrl('sqlite:a.db'), parseStorageUrl('sqlite:./a.db'), resolve),
    ).toBe(true);
    expect(
      samePlace(
        parseStorageUrl('redis://h:1?prefix=a:'),
        parseStorageUrl('redis://h:1?prefix=b:'),
        resolve,
      ),
    ).toBe(false);
    expect(
      samePlace(
        parseStorageUrl('postgres://u@h/db'),
        parseStorageUrl('postgres://u@h/db?schema=public'),
        resolve,
      ),
    ).toBe(true);
  });
});
