import { describeEmbedderContract } from '@buddy/testkit/model';
import { answerEmbeddings, embedderOver } from './__fixtures__/openai-embedding-fixtures.ts';
import { errorResponse } from './__fixtures__/openai-fixtures.ts';

// 256 dimensions keep the 2,100-text batch case light; the default (1536) has its own tests.
const over = (respond: Parameters<typeof embedderOver>[0]) => {
  const { embedder, fetch } = embedderOver(respond, { dimensions: 256 });
  return { embedder, requests: () => fetch.requests };
};

describeEmbedderContract('OpenAIEmbedder', {
  create: () => over((request) => answerEmbeddings(request)),
  hang: () => over({ delayMs: 60_000 }),
  // The fixture answers the same text with the same vector, as the real API (nearly) does.
  deterministic: true,
  error: (status) => over(errorResponse(status)),
});
