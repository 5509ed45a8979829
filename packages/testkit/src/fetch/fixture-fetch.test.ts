import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createFixtureFetch,
  formatSseEvent,
  jsonResponse,
  loadChunksFixture,
  loadJsonFixture,
  sseResponse,
  startFixtureServer,
  textResponse,
} from './index.ts';

const post = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
  body: JSON.stringify(body),
});

describe('createFixtureFetch', () => {
  it('answers JSON with status and headers, and records the request', async () => {
    const fetch = createFixtureFetch({
      match: 'POST /v1/chat/completions',
      respond: jsonResponse(
        { error: 'nope' },
        { status: 429, headers: { 'x-request-id': 'req_1' } },
      ),
    });
    const response = await fetch('https://api.example.com/v1/chat/completions', post({ a: 1 }));
    expect(response.status).toBe(429);
    expect(response.headers.get('x-request-id')).toBe('req_1');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ error: 'nope' });
    expect(fetch.requests).toEqual([
      {
        method: 'POST',
        url: 'https://api.example.com/v1/chat/completions',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
        body: { a: 1 },
      },
    ]);
    expect(fetch.lastRequest).toBe(fetch.requests[0]);
  });

  it('serves a list of answers in order and fails clearly when it runs out', async () => {
    const fetch = createFixtureFetch({
      match: '/messages',
      respond: [jsonResponse({ n: 1 }), jsonResponse({ n: 2 })],
    });
    const url = 'http://127.0.0.1/v1/messages';
    expect(await (await fetch(url, post({}))).json()).toEqual({ n: 1 });
    expect(await (await fetch(url, post({}))).json()).toEqual({ n: 2 });
    await expect(fetch(url, post({}))).rejects.toThrow(/no response left for its request #3/);
  });

  it('routes by method and path, and rejects unmatched requests', async () => {
    const fetch = createFixtureFetch([
      { match: 'GET /models', respond: jsonResponse({ kind: 'models' }) },
      {
        match: (request) => request.path.endsWith('/messages'),
        respond: jsonResponse({ kind: 'messages' }),
      },
    ]);
    expect(await (await fetch('http://x/v1/models')).json()).toEqual({ kind: 'models' });
    expect(await (await fetch('http://x/v1/messages', post({}))).json()).toEqual({
      kind: 'messages',
    });
    await expect(fetch('http://x/v1/models', post({}))).rejects.toThrow(/no route matches POST/);
    expect(fetch.requests).toHaveLength(3);
  });

  it('passes the request and a per-route index to a responder function', async () => {
    const fetch = createFixtureFetch({
      respond: (request, index) => jsonResponse({ index, echo: request.body }),
    });
    await fetch('http://x/a', post({ q: 'one' }));
    const second = await fetch('http://x/a', post({ q: 'two' }));
    expect(await second.json()).toEqual({ index: 1, echo: { q: 'two' } });
  });

  it('writes OpenAI SSE with a [DONE] frame and Anthropic SSE with event names', async () => {
    const openai = createFixtureFetch({
      respond: sseResponse([{ id: 'a' }, { id: 'b' }], { dialect: 'openai' }),
    });
    const openaiResponse = await openai('http://x/chat/completions', post({}));
    expect(openaiResponse.headers.get('content-type')).toBe('text/event-stream');
    expect(await openaiResponse.text()).toBe(
      'data: {"id":"a"}\n\ndata: {"id":"b"}\n\ndata: [DONE]\n\n',
    );
    const anthropic = createFixtureFetch({
      respond: sseResponse([{ type: 'message_start' }, { type: 'message_stop' }], {
        dialect: 'anthropic',
      }),
    });
    expect(await (await anthropic('http://x/v1/messages', post({}))).text()).toBe(
      'event: message_start\ndata: {"type":"message_start"}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
    expect(() => formatSseEvent({ no: 'type' }, 'anthropic')).toThrow(/string "type"/);
  });

  it('rejects like a real fetch when the signal fires during a delay', async () => {
    const fetch = createFixtureFetch({ respond: { delayMs: 60_000 } });
    const controller = new AbortController();
    const pending = fetch('http://x/a', { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('keeps a stalled SSE body open until the request is aborted, then errors it', async () => {
    const fetch = createFixtureFetch({
      respond: sseResponse([{ id: 'a' }, { id: 'b' }], { dialect: 'openai', stallAfter: 1 }),
    });
    const controller = new AbortController();
    const response = await fetch('http://x/a', { signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: {"id":"a"}\n\n');
    const next = reader.read();
    controller.abort();
    await expect(next).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects with the given network error', async () => {
    const fetch = createFixtureFetch({ respond: { networkError: new TypeError('fetch failed') } });
    await expect(fetch('http://x/a')).rejects.toThrow('fetch failed');
  });

  it('serves raw text bodies', async () => {
    const fetch = createFixtureFetch({
      respond: textResponse('<html>bad gateway</html>', { status: 502, contentType: 'text/html' }),
    });
    const response = await fetch('http://x/a');
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe('<html>bad gateway</html>');
  });
});

describe('fixture files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'buddy-fixtures-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads JSON and line-delimited chunk files, naming the bad line', () => {
    writeFileSync(join(dir, 'a.json'), '{"ok": true}');
    writeFileSync(join(dir, 'a.chunks.txt'), '{"n":1}\n\n{"n":2}\n');
    writeFileSync(join(dir, 'bad.chunks.txt'), '{"n":1}\n{"n":\n');
    expect(loadJsonFixture(join(dir, 'a.json'))).toEqual({ ok: true });
    expect(loadChunksFixture(join(dir, 'a.chunks.txt'))).toEqual([{ n: 1 }, { n: 2 }]);
    expect(() => loadChunksFixture(join(dir, 'bad.chunks.txt'))).toThrow(
      /line 2 is not valid JSON/,
    );
  });
});

describe('startFixtureServer', () => {
  it('serves fixtures over loopback HTTP and records the requests', async () => {
    const server = await startFixtureServer({
      match: 'POST /v1/messages',
      respond: [
        jsonResponse({ ok: true }, { headers: { 'request-id': 'req_1' } }),
        sseResponse([{ type: 'message_stop' }], { dialect: 'anthropic' }),
      ],
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const json = await fetch(`${server.url}/v1/messages`, post({ q: 1 }));
      expect(json.headers.get('request-id')).toBe('req_1');
      expect(await json.json()).toEqual({ ok: true });
      const sse = await fetch(`${server.url}/v1/messages`, post({ q: 2 }));
      expect(await sse.text()).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      expect(server.requests.map((request) => [request.path, request.body])).toEqual([
        ['/v1/messages', { q: 1 }],
        ['/v1/messages', { q: 2 }],
      ]);
      expect(server.lastRequest?.headers.authorization).toBe('Bearer sk-test');
    } finally {
      await server.close();
      await server.close();
    }
  });

  it('drops the connection for a network-error fixture', async () => {
    const server = await startFixtureServer({ respond: { networkError: new Error('boom') } });
    try {
      await expect(fetch(`${server.url}/x`)).rejects.toThrow();
    } finally {
      await server.close();
    }
  });
});
