export {
  cosineSimilarity,
  describeEmbedderContract,
  type EmbedderHarness,
  type EmbedderScenario,
  embedderContract,
} from './embedder-contract.ts';
export {
  describeModelAdapterContract,
  type ModelAdapterHarness,
  type ModelScenario,
  modelContract,
  type UnsupportedSettingCase,
} from './model-adapter-contract.ts';
