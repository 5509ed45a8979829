import { isStreamRequest, sseResponse } from '@buddy/testkit/fetch';
import { describeModelAdapterContract } from '@buddy/testkit/model';
import { chunkFixture, errorResponse, fixtures, scenario } from './__fixtures__/openai-fixtures.ts';

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
});
