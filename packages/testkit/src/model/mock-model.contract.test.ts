import { MockModel, type MockReply } from '../mock-model.ts';
import { describeModelAdapterContract, type ModelScenario, modelContract } from './index.ts';

function answering(reply: MockReply, options: { latencyMs?: number } = {}): ModelScenario {
  const model = new MockModel({ respond: () => reply, ...options });
  return { model, requests: () => model.requests };
}

// MockModel has no HTTP layer: the status-code, stall and in-stream error cases are skipped.
describeModelAdapterContract('MockModel', {
  text: () => answering(modelContract.text),
  toolCall: () => answering({ toolCalls: [modelContract.toolCall] }),
  twoToolCalls: () =>
    answering({ toolCalls: [modelContract.toolCall, modelContract.secondToolCall] }),
  structured: () => answering(JSON.stringify(modelContract.structured)),
  hang: () => answering(modelContract.text, { latencyMs: 60_000 }),
});
