/**
 * Test support: this folder's recorded Messages API responses, and `Claude`s over a fixture fetch
 * (key `sk-ant-test`, no retries). Not part of the published package.
 */
import { createProviderFixtures } from '@buddy/testkit/fetch';
import { Claude, type ClaudeOptions } from '../claude.ts';

/** This folder's recorded responses, served to `Claude` through a fixture fetch. */
export const fixtures = createProviderFixtures({
  folder: new URL('./', import.meta.url),
  provider: 'anthropic',
  dialect: 'anthropic',
  route: 'POST /v1/messages',
  requestIdHeader: 'request-id',
  createModel: (fetch, options?: ClaudeOptions) =>
    new Claude({ apiKey: 'sk-ant-test', fetch, maxRetries: 0, ...options }),
});

/** `message` (or error) bodies (`<name>.json`) and stream events (`<name>.chunks.txt`). */
export const { json: messageFixture, chunks: eventFixture } = fixtures;
/** A recorded exchange by name, an HTTP error reply, and a model over a fixture fetch. */
export const { scenario, errorResponse, modelOver } = fixtures;
