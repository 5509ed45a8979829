import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { MODEL_ERROR_CLASSIFICATIONS } from './classify-http-status.ts';
import { modelCallError } from './model-call-error.ts';

class VendorError extends Error {}

describe('modelCallError', () => {
  it('classifies by status and names the model, the reason, the status and the vendor message', () => {
    const cause = new VendorError('Rate limit reached for gpt-4o');
    const error = modelCallError({
      label: 'OpenAIChat(gpt-4o)',
      provider: 'openai',
      error: cause,
      status: 429,
      requestId: 'req_1',
      details: { providerCode: 'rate_limit_exceeded' },
    });
    expect(BuddyError.is(error, 'MODEL_RATE_LIMITED')).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'OpenAIChat(gpt-4o): the request was rate-limited (HTTP 429): Rate limit reached for gpt-4o',
    );
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({
      provider: 'openai',
      status: 429,
      requestId: 'req_1',
      providerCode: 'rate_limit_exceeded',
    });
  });

  it('uses the given classification, and null for an unknown status and request id', () => {
    const error = modelCallError({
      label: 'Claude(x)',
      provider: 'anthropic',
      error: new VendorError('prompt is too long'),
      status: 400,
      requestId: undefined,
      classification: MODEL_ERROR_CLASSIFICATIONS.contextOverflow,
    });
    expect(error.code).toBe('MODEL_CONTEXT_OVERFLOW');
    expect(error.details).toEqual({ provider: 'anthropic', status: 400, requestId: null });
  });

  it('treats an error without a status (inside a stream) as unavailable and leaves out "HTTP"', () => {
    const error = modelCallError({ label: 'M', provider: 'p', error: 'stream broke' });
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('M: the provider failed or is overloaded: stream broke');
    expect(error.details).toEqual({ provider: 'p', status: null, requestId: null });
  });
});
