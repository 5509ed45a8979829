export { inMemoryMemoryDbHarness, inMemoryStorageHarness } from './in-memory-harness.ts';
export {
  describeMemoryDbContract,
  type MemoryDbHarness,
  makeMemory,
} from './memory-db-contract.ts';
export {
  describeSessionStorageContract,
  makeRun,
  type SessionStorageHarness,
  uniqueId,
} from './session-storage-contract.ts';
export { recordingLogger } from './session-storage-edge-cases.ts';
