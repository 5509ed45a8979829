/**
 * `@buddy/testkit/cross-process`: the cross-process suite every session storage runs with only a
 * factory module (`describeCrossProcessContract`).
 */
export {
  type CrossProcessConfig,
  type CrossProcessHarness,
  describeCrossProcessContract,
} from './cross-process-contract.ts';
