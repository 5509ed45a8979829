import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { assertModelSettings } from './assert-model-settings.ts';

function rejection(options: unknown, config?: Parameters<typeof assertModelSettings>[2]): string {
  try {
    assertModelSettings('AcmeChat', options, config);
  } catch (error) {
    expect(BuddyError.is(error, 'INVALID_ARGUMENT')).toBe(true);
    return (error as BuddyError).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('assertModelSettings', () => {
  it('accepts valid settings, unknown keys and an empty object', () => {
    const client = {};
    expect(() =>
      assertModelSettings('AcmeChat', {
        id: 'acme-1',
        apiKey: 'sk',
        baseURL: 'http://127.0.0.1:8080/v1',
        temperature: 0,
        maxTokens: 1,
        maxRetries: 0,
        fetch: () => undefined,
        organization: 'org',
      }),
    ).not.toThrow();
    expect(() =>
      assertModelSettings('AcmeChat', { client, id: 'acme-1', temperature: 1 }),
    ).not.toThrow();
    expect(() => assertModelSettings('AcmeChat', {})).not.toThrow();
  });

  it.each([
    [null, 'AcmeChat: options must be an object, got null'],
    [{ id: ' ' }, 'AcmeChat: id must be a non-empty string, got " "'],
    [{ apiKey: 42 }, 'AcmeChat: apiKey must be a non-empty string, got 42'],
    [{ baseURL: 'api.acme.com' }, 'AcmeChat: baseURL must be an absolute URL, got "api.acme.com"'],
    [{ baseURL: 5 }, 'AcmeChat: baseURL must be an absolute URL, got 5'],
    [{ temperature: -0.5 }, 'AcmeChat: temperature must be a number >= 0, got -0.5'],
    [{ temperature: Number.NaN }, 'AcmeChat: temperature must be a number >= 0, got NaN'],
    [{ temperature: '1' }, 'AcmeChat: temperature must be a number >= 0, got "1"'],
    [{ maxTokens: 0 }, 'AcmeChat: maxTokens must be an integer >= 1, got 0'],
    [{ maxRetries: 1.5 }, 'AcmeChat: maxRetries must be an integer >= 0, got 1.5'],
    [{ fetch: 'fetch' }, 'AcmeChat: fetch must be a function, got "fetch"'],
    [{ client: 'x' }, 'AcmeChat: client must be a client, got "x"'],
    [
      { client: {}, apiKey: 'sk', maxRetries: 1 },
      'AcmeChat: pass either client or apiKey, maxRetries, not both: configure the client itself',
    ],
  ])('rejects %j', (options, message) => {
    expect(rejection(options)).toBe(message);
  });

  it('names the client kind and checks the given client settings', () => {
    expect(rejection({ client: null }, { clientDescription: 'an Acme client' })).toBe(
      'AcmeChat: client must be an Acme client, got null',
    );
    expect(
      rejection({ client: {}, organization: 'org' }, { clientSettings: ['organization'] }),
    ).toContain('pass either client or organization');
    expect(() =>
      assertModelSettings('AcmeChat', { client: {}, apiKey: 'sk' }, { clientSettings: [] }),
    ).not.toThrow();
  });
});
