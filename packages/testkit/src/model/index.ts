export {
  describeModelAdapterContract,
  type ModelAdapterHarness,
  type ModelScenario,
  modelContract,
} from './model-adapter-contract.ts';
