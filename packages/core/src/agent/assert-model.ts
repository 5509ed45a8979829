import { BuddyError } from '../errors/buddy-error.ts';
import { describeValue } from '../errors/describe-value.ts';
import type { Model } from '../spec/model-v1.ts';

/**
 * Checks that `value` implements the `Model` contract this core knows (`'v1'`). `what` names the
 * value in the error, e.g. `"Agent: option 'model'"`.
 */
export function assertModel(value: unknown, what: string): asserts value is Model {
  if (typeof value !== 'object' || value === null) {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be a Model (e.g. new OpenAIChat()), got ${describeValue(value)}`,
    });
  }
  const model = value as Partial<Model>;
  if (model.specificationVersion !== 'v1') {
    throw new BuddyError({
      code: 'UNSUPPORTED_SPEC_VERSION',
      message: `${what} implements model specification ${describeValue(model.specificationVersion)}; this version of @buddy/core supports 'v1'`,
    });
  }
  if (typeof model.generate !== 'function' || typeof model.stream !== 'function') {
    throw new BuddyError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must have generate() and stream() methods`,
    });
  }
}
