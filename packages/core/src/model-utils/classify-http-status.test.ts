import { describe, expect, it } from 'vitest';
import { classifyHttpStatus, MODEL_ERROR_CLASSIFICATIONS } from './classify-http-status.ts';

describe('classifyHttpStatus', () => {
  it.each([
    [401, 'MODEL_AUTH_FAILED', false],
    [403, 'MODEL_AUTH_FAILED', false],
    [429, 'MODEL_RATE_LIMITED', true],
    [408, 'MODEL_UNAVAILABLE', true],
    [409, 'MODEL_UNAVAILABLE', true],
    [500, 'MODEL_UNAVAILABLE', true],
    [503, 'MODEL_UNAVAILABLE', true],
    [529, 'MODEL_UNAVAILABLE', true],
    [400, 'MODEL_BAD_RESPONSE', false],
    [404, 'MODEL_BAD_RESPONSE', false],
    [413, 'MODEL_BAD_RESPONSE', false],
    [422, 'MODEL_BAD_RESPONSE', false],
  ] as const)('classifies HTTP %i as %s, retryable %s', (status, code, retryable) => {
    const classification = classifyHttpStatus(status);
    expect(classification.code).toBe(code);
    expect(classification.retryable).toBe(retryable);
    expect(classification.reason.length).toBeGreaterThan(0);
  });

  it('reports a context overflow the adapter recognized, but never over auth, rate or server errors', () => {
    const overflow = { isContextOverflow: true };
    expect(classifyHttpStatus(400, overflow)).toBe(MODEL_ERROR_CLASSIFICATIONS.contextOverflow);
    expect(classifyHttpStatus(413, overflow)).toEqual({
      code: 'MODEL_CONTEXT_OVERFLOW',
      retryable: false,
      reason: "the request does not fit the model's context window",
    });
    expect(classifyHttpStatus(401, overflow).code).toBe('MODEL_AUTH_FAILED');
    expect(classifyHttpStatus(429, overflow).code).toBe('MODEL_RATE_LIMITED');
    expect(classifyHttpStatus(500, overflow).code).toBe('MODEL_UNAVAILABLE');
    expect(classifyHttpStatus(400, { isContextOverflow: false }).code).toBe('MODEL_BAD_RESPONSE');
  });

  it('makes a 429 for an exhausted quota not retryable, and only a 429', () => {
    expect(classifyHttpStatus(429, { isQuotaExhausted: true })).toEqual({
      code: 'MODEL_RATE_LIMITED',
      retryable: false,
      reason: 'the account has no quota left',
    });
    expect(classifyHttpStatus(429, { isQuotaExhausted: false }).retryable).toBe(true);
    expect(classifyHttpStatus(400, { isQuotaExhausted: true }).code).toBe('MODEL_BAD_RESPONSE');
  });

  it('shares frozen classifications', () => {
    expect(Object.isFrozen(MODEL_ERROR_CLASSIFICATIONS)).toBe(true);
    expect(classifyHttpStatus(503)).toBe(MODEL_ERROR_CLASSIFICATIONS.unavailable);
  });
});
