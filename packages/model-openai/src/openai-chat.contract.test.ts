import { isStreamRequest, sseResponse } from '@buddy/testkit/fetch';
import { describeModelAdapterContract } from '@buddy/testkit/model';
import {
  chunkFixture,
  errorResponse,
  fixtures,
  modelOver,
  scenario,
} from './__fixtures__/openai-fixtures.ts';

const over = fixtures.modelScenario;

describeModelAdapterContract('OpenAIChat', {
  text: () => over(scenario('openai-text'), { inputTokens: 19, outputTokens: 10 }),
  toolCall: () => over(scenario('openai-tool-call'), { inputTokens: 112, outputTokens: 18 }),
  twoToolCalls: () => over(scenario('openai-two-tool-calls')),
  structured: () => over(scenario('openai-structured')),
  hang: () => over({ delayMs: 60_000 }),
  stall: () =>
    over((request) =>
      isStreamRequest(request)
        ? sseResponse(chunkFixture('openai-text'), { dialect: 'openai', stallAfter: 3 })
        : { delayMs: 60_000 },
    ),
  error: (status) => over(errorResponse(status)),
  midStreamError: () =>
    over(sseResponse(chunkFixture('openai-mid-stream-error'), { dialect: 'openai' })),
  // Reasoning models refuse temperature: it is not sent, and a warning says so.
  unsupportedSetting: {
    setting: 'temperature',
    request: { temperature: 0.4 },
    scenario: () => {
      const { model, fetch } = modelOver(scenario('openai-text'), { id: 'o4-mini' });
      return {
        model,
        requests: () => fetch.requests,
        bodies: () => fetch.requests.map((r) => r.body),
      };
    },
  },
});
