import { isStreamRequest, sseResponse } from '@buddy/testkit/fetch';
import { describeModelAdapterContract } from '@buddy/testkit/model';
import {
  errorResponse,
  eventFixture,
  fixtures,
  scenario,
} from './__fixtures__/anthropic-fixtures.ts';

const over = fixtures.modelScenario;

describeModelAdapterContract('Claude', {
  text: () => over(scenario('anthropic-text'), { inputTokens: 14, outputTokens: 12 }),
  // 38 uncached + 512 cache-read prompt tokens.
  toolCall: () => over(scenario('anthropic-tool-call'), { inputTokens: 550, outputTokens: 64 }),
  twoToolCalls: () => over(scenario('anthropic-two-tool-calls')),
  structured: () => over(scenario('anthropic-structured')),
  hang: () => over({ delayMs: 60_000 }),
  stall: () =>
    over((request) =>
      isStreamRequest(request)
        ? sseResponse(eventFixture('anthropic-text'), { dialect: 'anthropic', stallAfter: 4 })
        : { delayMs: 60_000 },
    ),
  error: (status) => over(errorResponse(status)),
  midStreamError: () =>
    over(sseResponse(eventFixture('anthropic-mid-stream-error'), { dialect: 'anthropic' })),
  // The API version the SDK speaks rejects sampling parameters: temperature is not sent.
  unsupportedSetting: {
    setting: 'temperature',
    request: { temperature: 0.7 },
    scenario: () => over(scenario('anthropic-text')),
  },
});
