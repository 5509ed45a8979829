export { MockModel, type MockModelOptions, type MockReply, splitIntoDeltas } from './mock-model.ts';
