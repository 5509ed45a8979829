/**
 * Test support: this folder's recorded Chat Completions responses, and `OpenAIChat`s over a
 * fixture fetch (key `sk-test`, no retries). Not part of the published package.
 */
import { createProviderFixtures } from '@buddy/testkit/fetch';
import { OpenAIChat, type OpenAIChatOptions } from '../openai-chat.ts';

/** This folder's recorded responses, served to `OpenAIChat` through a fixture fetch. */
export const fixtures = createProviderFixtures({
  folder: new URL('./', import.meta.url),
  provider: 'openai',
  dialect: 'openai',
  route: 'POST /chat/completions',
  requestIdHeader: 'x-request-id',
  createModel: (fetch, options?: OpenAIChatOptions) =>
    new OpenAIChat({ apiKey: 'sk-test', fetch, maxRetries: 0, ...options }),
});

/** `chat.completion` bodies (`<name>.json`) and `chat.completion.chunk` events (`<name>.chunks.txt`). */
export const { json: completionFixture, chunks: chunkFixture } = fixtures;
/** A recorded exchange by name, an HTTP error reply, and a model over a fixture fetch. */
export const { scenario, errorResponse, modelOver } = fixtures;
