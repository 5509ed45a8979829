export {
  describeModelAdapterContract,
  type ModelAdapterHarness,
  type ModelScenario,
  modelContract,
  type UnsupportedSettingCase,
} from './model-adapter-contract.ts';
