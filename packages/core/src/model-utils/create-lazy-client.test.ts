import { afterEach, describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { createLazyClient } from './create-lazy-client.ts';

interface AcmeOptions {
  client?: FakeClient;
  apiKey?: string;
  baseURL?: string;
  fetch?: typeof fetch;
  maxRetries?: number;
  temperature?: number;
}

class FakeClient {
  readonly settings: object;
  constructor(settings: object) {
    this.settings = settings;
  }
}

const ENV = ['BUDDY_TEST_ACME_KEY', 'BUDDY_TEST_ACME_TOKEN'] as const;

function lazy(options: AcmeOptions, created: object[] = []) {
  return createLazyClient({
    options,
    apiKeyEnvVars: ENV,
    create: (settings) => {
      created.push(settings);
      return new FakeClient(settings);
    },
    missingKey: { who: 'AcmeChat(acme-1)', provider: 'acme', adapter: 'AcmeChat' },
  });
}

describe('createLazyClient', () => {
  afterEach(() => {
    for (const name of ENV) delete process.env[name];
  });

  it('creates the client once, on the first call, from the client settings that were given', () => {
    const created: object[] = [];
    const options: AcmeOptions = { apiKey: 'sk', maxRetries: 0, temperature: 0.5 };
    const getClient = lazy(options, created);
    expect(created).toHaveLength(0);
    options.baseURL = 'http://changed.example'; // copied at construction
    const client = getClient();
    expect(getClient()).toBe(client);
    expect(created).toEqual([{ apiKey: 'sk', maxRetries: 0 }]);
    expect(Object.keys(created[0] ?? {})).not.toContain('baseURL');
  });

  it('returns a given client as is, without a key check', () => {
    const client = new FakeClient({});
    const created: object[] = [];
    expect(lazy({ client }, created)()).toBe(client);
    expect(created).toHaveLength(0);
  });

  it('without a key throws MODEL_AUTH_FAILED naming the first variable, and checks again next time', () => {
    const getClient = lazy({});
    let caught: unknown;
    try {
      getClient();
    } catch (error) {
      caught = error;
    }
    expect(BuddyError.is(caught, 'MODEL_AUTH_FAILED')).toBe(true);
    expect((caught as BuddyError).message).toContain(
      'Set the BUDDY_TEST_ACME_KEY environment variable',
    );
    expect((caught as BuddyError).details).toEqual({
      provider: 'acme',
      envVar: 'BUDDY_TEST_ACME_KEY',
    });
    process.env.BUDDY_TEST_ACME_KEY = 'sk-env';
    expect(getClient()).toBeInstanceOf(FakeClient);
  });

  it('counts any of the variables, but not a blank one', () => {
    process.env.BUDDY_TEST_ACME_KEY = '  ';
    expect(() => lazy({})()).toThrow(/no API key found/);
    process.env.BUDDY_TEST_ACME_TOKEN = 'token';
    expect(lazy({})()).toBeInstanceOf(FakeClient);
  });
});
