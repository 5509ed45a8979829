/**
 * The reference implementations pass every contract suite, from core's own test command.
 */
import {
  describeMemoryDbContract,
  describeSessionStorageContract,
  inMemoryMemoryDbHarness,
  inMemoryStorageHarness,
} from '@buddy/testkit/storage';

describeSessionStorageContract('InMemoryStorage', inMemoryStorageHarness);
describeMemoryDbContract('InMemoryMemoryDb', inMemoryMemoryDbHarness);
