import { BuddyError } from '@buddy/core';
import {
  expectBuddyRejection,
  expectBuddyThrow,
  type FixtureServer,
  jsonResponse,
  startFixtureServer,
  textResponse,
  useEnv,
} from '@buddy/testkit/fetch';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  answerEmbeddings,
  embedderOver,
  embeddingBodies,
  embeddingFixture,
  toBase64Floats,
} from './__fixtures__/openai-embedding-fixtures.ts';
import { errorResponse } from './__fixtures__/openai-fixtures.ts';
import {
  batchEmbeddingInputs,
  MAX_EMBEDDING_INPUTS,
  MAX_EMBEDDING_REQUEST_TOKENS,
  tokenUpperBound,
} from './batch-embedding-inputs.ts';
import { OpenAIEmbedder } from './openai-embedder.ts';

const TWO: string[] = [
  'The user drinks black coffee every morning.',
  'The user is allergic to peanuts.',
];

describe('OpenAIEmbedder construction', () => {
  it('defaults to text-embedding-3-small with 1536 dimensions and needs no key', () => {
    const embedder = new OpenAIEmbedder();
    expect(embedder).toMatchObject({
      specificationVersion: 'v1',
      provider: 'openai',
      id: 'text-embedding-3-small',
      dimensions: 1536,
    });
    expect(new OpenAIEmbedder({ id: 'text-embedding-3-large' }).dimensions).toBe(3072);
    expect(new OpenAIEmbedder({ id: 'text-embedding-ada-002' }).dimensions).toBe(1536);
    expect(new OpenAIEmbedder({ dimensions: 256 }).dimensions).toBe(256);
  });

  it.each([
    [{ dimensions: 0 }, 'dimensions must be an integer >= 1, got 0'],
    [{ dimensions: 2.5 }, 'dimensions must be an integer >= 1'],
    [{ dimensions: 2000 }, 'dimensions of text-embedding-3-small must be at most 1536, got 2000'],
    [{ id: 'text-embedding-3-large', dimensions: 4096 }, 'must be at most 3072'],
    [
      { id: 'text-embedding-ada-002', dimensions: 512 },
      'text-embedding-ada-002 cannot shorten its vectors: dimensions must be 1536',
    ],
    [
      { id: 'nomic-embed-text' },
      `dimensions is required for a model it does not know ("nomic-embed-text")`,
    ],
    [{ maxBatchSize: 4096 }, 'maxBatchSize must be an integer between 1 and 2048'],
    [{ id: '' }, 'id must be a non-empty string'],
    [{ baseURL: 'api.example.com/v1' }, 'baseURL must be an absolute URL'],
    [{ client: new OpenAI({ apiKey: 'sk' }), apiKey: 'sk-other' }, 'pass either client or apiKey'],
    [{ dimension: 256 }, "unknown option 'dimension'"],
    [{ temperature: 0 }, "unknown option 'temperature'"],
  ])('rejects %o with INVALID_ARGUMENT', (options, message) => {
    const error = expectBuddyThrow(() => new OpenAIEmbedder(options as never));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(message);
  });
});

describe('OpenAIEmbedder requests', () => {
  it('sends the model, the inputs and encoding_format base64 to POST /v1/embeddings', async () => {
    const { embedder, fetch } = embedderOver(jsonResponse(embeddingFixture('openai-embeddings')));
    await embedder.embed([...TWO]);
    expect(fetch.lastRequest?.path).toBe('/v1/embeddings');
    expect(fetch.lastRequest?.headers.authorization).toBe('Bearer sk-test');
    expect(fetch.lastRequest?.body).toEqual({
      model: 'text-embedding-3-small',
      input: TWO,
      encoding_format: 'base64',
    });
  });

  it('sends dimensions for text-embedding-3 models when given', async () => {
    const { embedder, fetch } = embedderOver((request) => answerEmbeddings(request), {
      id: 'text-embedding-3-large',
      dimensions: 256,
    });
    const [vector] = await embedder.embed(['x']);
    expect(vector).toHaveLength(256);
    expect(embeddingBodies(fetch)[0]).toMatchObject({
      model: 'text-embedding-3-large',
      dimensions: 256,
    });
  });

  it('does not send dimensions for a model that cannot shorten its vectors', async () => {
    const { embedder, fetch } = embedderOver(
      jsonResponse(embeddingFixture('openai-embeddings-float')),
      {
        id: 'all-minilm',
        dimensions: 384,
      },
    );
    await embedder.embed([...TWO]);
    expect(embeddingBodies(fetch)[0]).not.toHaveProperty('dimensions');
  });
});

describe('OpenAIEmbedder responses', () => {
  it('decodes the recorded base64 float32 vectors into plain numbers, exactly', async () => {
    const { embedder } = embedderOver(jsonResponse(embeddingFixture('openai-embeddings')));
    const vectors = await embedder.embed([...TWO]);
    expect(vectors).toHaveLength(2);
    for (const vector of vectors) {
      expect(Object.getPrototypeOf(vector)).toBe(Array.prototype);
      expect(vector).toHaveLength(1536);
      const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
      expect(norm).toBeCloseTo(1, 5);
    }
    expect([vectors[0]?.[0], vectors[0]?.[1535]]).toEqual([
      -0.009974339976906776, 0.011927599087357521,
    ]);
    expect([vectors[1]?.[0], vectors[1]?.[1535]]).toEqual([
      0.026087863370776176, -0.02791224792599678,
    ]);
  });

  it('accepts float lists from a compatible server that ignores encoding_format', async () => {
    const { embedder } = embedderOver(jsonResponse(embeddingFixture('openai-embeddings-float')), {
      id: 'all-minilm',
      dimensions: 384,
    });
    const vectors = await embedder.embed([...TWO]);
    expect(vectors.map((vector) => vector.length)).toEqual([384, 384]);
    expect([vectors[0]?.[0], vectors[1]?.[383]]).toEqual([0.0366835333, 0.036542505]);
  });

  it('puts the vectors in input order whatever the order of the data', async () => {
    const inOrder = embedderOver((request) => answerEmbeddings(request), { dimensions: 64 });
    const reversed = embedderOver((request) => answerEmbeddings(request, { reversed: true }), {
      dimensions: 64,
    });
    const texts = ['alpha beta', 'gamma delta', 'epsilon'];
    expect(await reversed.embedder.embed(texts)).toEqual(await inOrder.embedder.embed(texts));
  });

  const recorded = embeddingFixture('openai-embeddings') as {
    data: { index: number; embedding: unknown }[];
  };
  const withData = (data: unknown) => jsonResponse({ ...recorded, data });
  const [first, second] = recorded.data;

  it.each([
    ['no data list', jsonResponse({ object: 'list' }), 'no data list'],
    ['fewer vectors than inputs', withData([first]), '1 embeddings for 2 inputs'],
    ['an index twice', withData([first, first]), 'two embeddings for input 0'],
    [
      'an index out of range',
      withData([first, { ...second, index: 2 }]),
      'data[1].index that is not an input index (2)',
    ],
    [
      'a vector of the wrong length',
      withData([first, { ...second, embedding: toBase64Floats([0.1, 0.2]) }]),
      'data[1].embedding of 2 values where 1536 (dimensions) were expected',
    ],
    [
      'a NaN',
      withData([
        first,
        { ...second, embedding: toBase64Floats([...Array(1535).fill(0.1), Number.NaN]) },
      ]),
      'data[1].embedding[1535] that is not a finite number (NaN)',
    ],
    [
      'base64 that is not float32',
      withData([first, { ...second, embedding: 'AAA' }]),
      'data[1].embedding that is not a vector',
    ],
    [
      'an object for a vector',
      withData([first, { ...second, embedding: { x: 1 } }]),
      'data[1].embedding that is not a vector',
    ],
  ])('rejects %s with MODEL_BAD_RESPONSE', async (_label, response, message) => {
    const { embedder } = embedderOver(response);
    const error = await expectBuddyRejection(embedder.embed([...TWO]));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain('OpenAIEmbedder(text-embedding-3-small)');
    expect(error.message).toContain(message);
  });

  it('rejects a float list holding a string with MODEL_BAD_RESPONSE', async () => {
    const floats = embeddingFixture('openai-embeddings-float') as {
      data: { embedding: unknown[] }[];
    };
    const broken = structuredClone(floats);
    (broken.data[0] as { embedding: unknown[] }).embedding[5] = '0.5';
    const { embedder } = embedderOver(jsonResponse(broken), { id: 'all-minilm', dimensions: 384 });
    const error = await expectBuddyRejection(embedder.embed([...TWO]));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
    expect(error.message).toContain(`data[0].embedding[5] that is not a finite number ("0.5")`);
  });

  it('rejects a body that is not JSON with MODEL_BAD_RESPONSE', async () => {
    const { embedder } = embedderOver(
      textResponse('{"object": "list", "data": [', { contentType: 'application/json' }),
    );
    const error = await expectBuddyRejection(embedder.embed([...TWO]));
    expect(error.code).toBe('MODEL_BAD_RESPONSE');
  });
});

describe('OpenAIEmbedder batching', () => {
  it('splits by the API input limit: 2,048 inputs per request, in order', async () => {
    const { embedder, fetch } = embedderOver((request) => answerEmbeddings(request), {
      dimensions: 8,
    });
    const texts = Array.from({ length: 5000 }, (_, index) => `text ${index}`);
    const vectors = await embedder.embed(texts);
    expect(embeddingBodies(fetch).map((body) => body.input.length)).toEqual([2048, 2048, 904]);
    expect(embeddingBodies(fetch).flatMap((body) => body.input)).toEqual(texts);
    expect(vectors).toHaveLength(5000);
    const [last] = await embedder.embed(['text 4999']);
    expect(vectors[4999]).toEqual(last);
  });

  it('splits by maxBatchSize for servers with a lower limit', async () => {
    const { embedder, fetch } = embedderOver((request) => answerEmbeddings(request), {
      dimensions: 8,
      maxBatchSize: 2,
    });
    await embedder.embed(['a', 'b', 'c', 'd', 'e']);
    expect(embeddingBodies(fetch).map((body) => body.input)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
  });

  it('keeps each request under 300,000 tokens (bounded by UTF-8 bytes)', async () => {
    const { embedder, fetch } = embedderOver((request) => answerEmbeddings(request), {
      dimensions: 8,
    });
    const ascii = 'word '.repeat(20_000); // 100,000 bytes
    const cjk = '東'.repeat(40_000); // 120,000 bytes
    await embedder.embed([ascii, ascii, ascii, ascii, cjk, cjk, cjk]);
    const sizes = embeddingBodies(fetch).map((body) =>
      body.input.reduce((sum, text) => sum + Buffer.byteLength(text), 0),
    );
    expect(embeddingBodies(fetch).map((body) => body.input.length)).toEqual([3, 2, 2]);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(MAX_EMBEDDING_REQUEST_TOKENS);
  });

  it('batchEmbeddingInputs keeps order, and gives an oversized text a batch of its own', () => {
    expect(batchEmbeddingInputs([])).toEqual([]);
    expect(batchEmbeddingInputs(['a', 'b', 'c'], { maxInputs: 2 })).toEqual([['a', 'b'], ['c']]);
    expect(batchEmbeddingInputs(['aa', 'bbbbbb', 'c'], { maxTokens: 4 })).toEqual([
      ['aa'],
      ['bbbbbb'],
      ['c'],
    ]);
    expect(MAX_EMBEDDING_INPUTS).toBe(2048);
    expect(tokenUpperBound('é東😀')).toBe(2 + 3 + 4);
  });

  it('fails the whole call when a later batch fails, and sends no more', async () => {
    const { embedder, fetch } = embedderOver(
      (request, index) => (index === 1 ? errorResponse(500) : answerEmbeddings(request)),
      { dimensions: 8, maxBatchSize: 1 },
    );
    const error = await expectBuddyRejection(embedder.embed(['a', 'b', 'c']));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(fetch.requests).toHaveLength(2);
  });
});

describe('OpenAIEmbedder errors and abort', () => {
  it.each([
    [400, '400-embedding-input', 'MODEL_CONTEXT_OVERFLOW', false],
    [400, '400', 'MODEL_BAD_RESPONSE', false],
    [401, '401', 'MODEL_AUTH_FAILED', false],
    [403, '403', 'MODEL_AUTH_FAILED', false],
    [404, '404', 'MODEL_BAD_RESPONSE', false],
    [429, '429', 'MODEL_RATE_LIMITED', true],
    [429, '429-quota', 'MODEL_RATE_LIMITED', false],
    [500, '500', 'MODEL_UNAVAILABLE', true],
    [503, '500', 'MODEL_UNAVAILABLE', true],
  ] as const)(
    'maps HTTP %i (%s body) to %s, retryable %s',
    async (status, body, code, retryable) => {
      const { embedder } = embedderOver(errorResponse(status, body));
      const error = await expectBuddyRejection(embedder.embed([...TWO]));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(error.cause).toBeInstanceOf(OpenAI.APIError);
      expect(error.details).toMatchObject({
        provider: 'openai',
        status,
        requestId: `req_test_${body}`,
      });
      expect(error.message).toContain(`OpenAIEmbedder(text-embedding-3-small)`);
    },
  );

  it('maps a connection failure to MODEL_UNAVAILABLE', async () => {
    const { embedder } = embedderOver({ networkError: new TypeError('fetch failed') });
    const error = await expectBuddyRejection(embedder.embed([...TWO]));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
  });

  it('stops between batches when the signal fires, with ABORTED', async () => {
    const controller = new AbortController();
    const { embedder, fetch } = embedderOver(
      (request) => {
        controller.abort();
        return answerEmbeddings(request);
      },
      { dimensions: 8, maxBatchSize: 1 },
    );
    const error = await expectBuddyRejection(
      embedder.embed(['a', 'b', 'c'], { signal: controller.signal }),
    );
    expect(error.code).toBe('ABORTED');
    expect(fetch.requests).toHaveLength(1);
  });

  it('rejects empty strings before any request (the API refuses them)', async () => {
    const { embedder, fetch } = embedderOver(jsonResponse(embeddingFixture('openai-embeddings')));
    const error = await expectBuddyRejection(embedder.embed(['fine', '']));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`texts[1] must be a non-empty string, got ""`);
    expect(fetch.requests).toHaveLength(0);
  });
});

describe('OpenAIEmbedder API key and base URL', () => {
  describe('without OPENAI_API_KEY', () => {
    useEnv({ OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined });

    it('fails the first call (not construction) with MODEL_AUTH_FAILED naming the variable', async () => {
      const embedder = new OpenAIEmbedder();
      const error = await expectBuddyRejection(embedder.embed(['x']));
      expect(error.code).toBe('MODEL_AUTH_FAILED');
      expect(error.message).toContain('OPENAI_API_KEY');
      expect(error.message).toContain("new OpenAIEmbedder({ apiKey: '...' })");
      // No texts: no request, so no key is needed.
      expect(await embedder.embed([])).toEqual([]);
    });

    it('uses a given client as is', async () => {
      const { fetch } = embedderOver(jsonResponse(embeddingFixture('openai-embeddings')));
      const client = new OpenAI({ apiKey: 'sk-client', fetch, maxRetries: 0 });
      const vectors = await new OpenAIEmbedder({ client }).embed([...TWO]);
      expect(vectors).toHaveLength(2);
      expect(fetch.lastRequest?.headers.authorization).toBe('Bearer sk-client');
    });
  });

  describe('with OPENAI_API_KEY and OPENAI_BASE_URL pointing at a loopback server', () => {
    let server: FixtureServer;
    useEnv({ OPENAI_API_KEY: 'sk-from-env', OPENAI_BASE_URL: '' });
    beforeEach(async () => {
      server = await startFixtureServer({
        match: 'POST /embeddings',
        respond: jsonResponse(embeddingFixture('openai-embeddings')),
      });
      process.env.OPENAI_BASE_URL = `${server.url}/v1`;
    });
    afterEach(() => server.close());

    it('finds the server and the key through the environment', async () => {
      const vectors = await new OpenAIEmbedder({ maxRetries: 0 }).embed([...TWO]);
      expect(vectors).toHaveLength(2);
      expect(server.requests.map((request) => request.path)).toEqual(['/v1/embeddings']);
      expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-from-env');
    });
  });

  it('never lets a vendor error escape', async () => {
    const { embedder } = embedderOver(errorResponse(500));
    const error = await expectBuddyRejection(embedder.embed(['x']));
    expect(BuddyError.is(error)).toBe(true);
    expect(error).not.toBeInstanceOf(OpenAI.APIError);
  });
});
