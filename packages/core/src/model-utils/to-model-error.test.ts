import { describe, expect, it } from 'vitest';
import { BuddyError } from '../errors/buddy-error.ts';
import { modelCallError } from './model-call-error.ts';
import { type ToModelErrorOptions, toModelError } from './to-model-error.ts';

class SdkError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}
class SdkConnectionError extends SdkError {}
class SdkAbortError extends SdkError {}

const options: ToModelErrorOptions = {
  label: 'Acme(acme-1)',
  provider: 'acme',
  isAbort: (error) => error instanceof SdkAbortError,
  isConnectionError: (error) => error instanceof SdkConnectionError,
  fromVendorError: (error) =>
    error instanceof SdkError
      ? modelCallError({ label: 'Acme(acme-1)', provider: 'acme', error, status: error.status })
      : undefined,
};

describe('toModelError', () => {
  it('passes a BuddyError through unchanged', () => {
    const original = new BuddyError({ code: 'INVALID_ARGUMENT', message: 'bad' });
    expect(toModelError(original, options)).toBe(original);
  });

  it('reports ABORTED for a fired signal whatever was thrown, the SDK abort and a DOM AbortError', () => {
    const signal = AbortSignal.abort();
    const vendor = new SdkError('Bad gateway', 502);
    const fromSignal = toModelError(vendor, { ...options, signal });
    expect(fromSignal.code).toBe('ABORTED');
    expect(fromSignal.message).toBe('Acme(acme-1): the call was aborted');
    expect(fromSignal.cause).toBe(vendor);
    expect(toModelError(new SdkAbortError('aborted'), options).code).toBe('ABORTED');
    expect(toModelError(new DOMException('stop', 'AbortError'), options).code).toBe('ABORTED');
  });

  it('reports a connection error as MODEL_UNAVAILABLE before the vendor mapping sees it', () => {
    const error = toModelError(new SdkConnectionError('ECONNREFUSED', 500), options);
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('Acme(acme-1): could not reach the provider: ECONNREFUSED');
    expect(error.details).toEqual({ provider: 'acme' });
  });

  it('uses the vendor mapping for the errors it knows', () => {
    const error = toModelError(new SdkError('Invalid API key', 401), options);
    expect(error.code).toBe('MODEL_AUTH_FAILED');
    expect(error.details).toMatchObject({ provider: 'acme', status: 401 });
  });

  it('reports a body that is not JSON, and anything else, as MODEL_BAD_RESPONSE', () => {
    const json = toModelError(new SyntaxError('Unexpected end of JSON input'), options);
    expect(json.code).toBe('MODEL_BAD_RESPONSE');
    expect(json.retryable).toBe(false);
    expect(json.message).toBe(
      'Acme(acme-1): the provider sent a body that is not valid JSON: Unexpected end of JSON input',
    );
    const other = toModelError(new TypeError('x is undefined'), options);
    expect(other.code).toBe('MODEL_BAD_RESPONSE');
    expect(other.message).toBe('Acme(acme-1): x is undefined');
    expect(toModelError('a string', { label: 'M', provider: 'p' }).code).toBe('MODEL_BAD_RESPONSE');
  });
});
