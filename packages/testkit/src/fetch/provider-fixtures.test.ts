import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Model } from '@buddy/core';
import { afterAll, describe, expect, it } from 'vitest';
import { MockModel } from '../mock-model.ts';
import type { FixtureFetch } from './fixture-fetch.ts';
import { bodyOf, createProviderFixtures, isStreamRequest } from './provider-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'buddy-provider-fixtures-'));
writeFileSync(join(dir, 'acme-text.json'), '{"answer":"Hello"}');
writeFileSync(join(dir, 'acme-text.chunks.txt'), '{"delta":"Hel"}\n{"delta":"lo"}\n');
writeFileSync(join(dir, 'acme-bye.json'), '{"answer":"Bye"}');
writeFileSync(join(dir, 'acme-error-429.json'), '{"error":{"message":"slow down"}}');

/** A model that remembers the fetch and settings it was built with. */
class AcmeModel extends MockModel implements Model {
  readonly fetch: FixtureFetch;
  readonly settings: { temperature?: number } | undefined;
  constructor(fetch: FixtureFetch, settings: { temperature?: number } | undefined) {
    super();
    this.fetch = fetch;
    this.settings = settings;
  }
}

const fixtures = createProviderFixtures({
  folder: pathToFileURL(`${dir}/`),
  provider: 'acme',
  dialect: 'openai',
  route: 'POST /v1/chat',
  requestIdHeader: 'x-request-id',
  createModel: (fetch, settings?: { temperature?: number }) => new AcmeModel(fetch, settings),
});

const post = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) });

describe('createProviderFixtures', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads <name>.json and <name>.chunks.txt from the folder', () => {
    expect(fixtures.json('acme-text')).toEqual({ answer: 'Hello' });
    expect(fixtures.chunks('acme-text')).toEqual([{ delta: 'Hel' }, { delta: 'lo' }]);
  });

  it('answers a scenario with JSON, or with SSE in the dialect when the request streams', async () => {
    const { model, fetch } = fixtures.modelOver(fixtures.scenario('acme-text'), {
      temperature: 0,
    });
    expect(model.fetch).toBe(fetch);
    expect(model.settings).toEqual({ temperature: 0 });
    const json = await fetch('https://api.acme.test/v1/chat', post({ stream: false }));
    expect(await json.json()).toEqual({ answer: 'Hello' });
    const sse = await fetch('https://api.acme.test/v1/chat', post({ stream: true }));
    expect(await sse.text()).toBe(
      'data: {"delta":"Hel"}\n\ndata: {"delta":"lo"}\n\ndata: [DONE]\n\n',
    );
    expect(fetch.requests.map(isStreamRequest)).toEqual([false, true]);
    expect(bodyOf(fetch.lastRequest)).toEqual({ stream: true });
    await expect(fetch('https://api.acme.test/v1/models', post({}))).rejects.toThrow(
      /no route matches/,
    );
  });

  it('builds error responses from <provider>-error-<name>.json with a request id', async () => {
    const { fetch } = fixtures.modelOver(fixtures.errorResponse(429));
    const response = await fetch('http://x/v1/chat', post({}));
    expect(response.status).toBe(429);
    expect(response.headers.get('x-request-id')).toBe('req_test_429');
    expect(await response.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('scripts a conversation over a loopback server and fails clearly past its end', async () => {
    const server = await fixtures.startServer(fixtures.script(['acme-text', 'acme-bye']));
    try {
      const first = await fetch(`${server.url}/v1/chat`, post({}));
      expect(await first.json()).toEqual({ answer: 'Hello' });
      const second = await fetch(`${server.url}/v1/chat`, post({}));
      expect(await second.json()).toEqual({ answer: 'Bye' });
      // The responder throws; the server drops the connection.
      await expect(fetch(`${server.url}/v1/chat`, post({}))).rejects.toThrow();
      expect(server.requests).toHaveLength(3);
    } finally {
      await server.close();
    }
    const { fetch: scripted } = fixtures.modelOver(fixtures.script(['acme-bye']));
    await scripted('http://x/v1/chat', post({}));
    await expect(scripted('http://x/v1/chat', post({}))).rejects.toThrow(
      'script: request #2 to POST /v1/chat has no scenario left (1 given: acme-bye)',
    );
  });

  it('makes contract scenarios that expose the recorded requests and the usage', async () => {
    const scenario = fixtures.modelScenario(fixtures.scenario('acme-text'), {
      inputTokens: 3,
      outputTokens: 2,
    });
    expect(scenario.usage).toEqual({ inputTokens: 3, outputTokens: 2 });
    await (scenario.model as AcmeModel).fetch('http://x/v1/chat', post({}));
    expect(scenario.requests?.()).toHaveLength(1);
    expect(fixtures.modelScenario(fixtures.scenario('acme-text'))).not.toHaveProperty('usage');
  });
});
