export {
  DEFAULT_MOCK_EMBEDDER_DIMENSIONS,
  embedText,
  MAX_MOCK_EMBEDDER_DIMENSIONS,
  MockEmbedder,
  type MockEmbedderOptions,
  stemWord,
  textFeatures,
} from './mock-embedder.ts';
export { MockModel, type MockModelOptions, type MockReply, splitIntoDeltas } from './mock-model.ts';
