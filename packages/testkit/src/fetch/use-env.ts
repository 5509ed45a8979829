/**
 * `useEnv(values)`: environment variables for each test of a `describe` block, restored after
 * each test. The SDKs read keys and base URLs from the environment (`OPENAI_API_KEY`,
 * `ANTHROPIC_BASE_URL`, ...), so adapter tests pin them to keep a developer's own settings out.
 */
import { afterEach, beforeEach } from 'vitest';

/**
 * Sets (a string) or removes (`undefined`) the variables before each test of the current block
 * and restores the previous values after it.
 *
 * @example
 * describe('without OPENAI_API_KEY', () => {
 *   useEnv({ OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined });
 *   it('fails the first call', async () => { ... });
 * });
 */
export function useEnv(values: Record<string, string | undefined>): void {
  const saved: Record<string, string | undefined> = {};
  const apply = (entries: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  beforeEach(() => {
    for (const key of Object.keys(values)) saved[key] = process.env[key];
    apply(values);
  });
  afterEach(() => apply(saved));
}
