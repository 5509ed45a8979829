import { MockModel, type MockReply } from '../mock-model.ts';
import { describeModelAdapterContract, type ModelScenario, modelContract } from './index.ts';

function answering(reply: MockReply, options: { latencyMs?: number } = {}): ModelScenario {
  const model = new MockModel({ respond: () => reply, ...options });
  return { model, requests: () => model.requests };
}

// MockModel has no HTTP layer: the status-code, stall, in-stream error and wire cases are skipped.
describeModelAdapterContract('MockModel', {
  text: () => answering(modelContract.text),
  toolCall: () => answering({ toolCalls: [modelContract.toolCall] }),
  twoToolCalls: () =>
    answering({ toolCalls: [modelContract.toolCall, modelContract.secondToolCall] }),
  structured: () => answering(JSON.stringify(modelContract.structured)),
  hang: () => answering(modelContract.text, { latencyMs: 60_000 }),
  // A mock that, like Claude, does not honour temperature and says so.
  unsupportedSetting: {
    setting: 'temperature',
    request: { temperature: 0.5 },
    scenario: () => {
      const model = new MockModel({
        respond: () => modelContract.text,
        warnings: (request) =>
          request.temperature === undefined
            ? undefined
            : [{ type: 'unsupported-setting', setting: 'temperature', details: 'mock' }],
      });
      return { model, requests: () => model.requests };
    },
  },
});
