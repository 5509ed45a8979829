import { inMemoryMemoryDbHarness, inMemoryStorageHarness } from './in-memory-harness.ts';
import { describeMemoryDbContract } from './memory-db-contract.ts';
import { describeSessionStorageContract } from './session-storage-contract.ts';

describeSessionStorageContract('InMemoryStorage', inMemoryStorageHarness);
describeMemoryDbContract('InMemoryMemoryDb', inMemoryMemoryDbHarness);
