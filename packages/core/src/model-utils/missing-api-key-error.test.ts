import { describe, expect, it } from 'vitest';
import { missingApiKeyError } from './missing-api-key-error.ts';

describe('missingApiKeyError', () => {
  it('is MODEL_AUTH_FAILED, not retryable, naming the variable, the option and an example', () => {
    const error = missingApiKeyError({
      who: 'AcmeChat(acme-1)',
      envVar: 'ACME_API_KEY',
      provider: 'acme',
      adapter: 'AcmeChat',
    });
    expect(error.code).toBe('MODEL_AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      "AcmeChat(acme-1): no API key found. Set the ACME_API_KEY environment variable or pass the apiKey option: new AcmeChat({ apiKey: '...' })",
    );
    expect(error.details).toEqual({ provider: 'acme', envVar: 'ACME_API_KEY' });
  });

  it('adds the hint as a sentence and leaves out the example without an adapter name', () => {
    const error = missingApiKeyError({
      who: 'M',
      envVar: 'KEY',
      provider: 'p',
      hint: 'Or pass `model` to the Agent',
    });
    expect(error.message).toBe(
      'M: no API key found. Set the KEY environment variable or pass the apiKey option. Or pass `model` to the Agent',
    );
  });
});
