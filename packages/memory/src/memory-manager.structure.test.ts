/**
 * `MemoryManager` has no model loop of its own: it runs the Agent's `runToolLoop` (issue "Core's
 * three faces apart"), so tool-call handling, reply checks and round limits are one code path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const source = readFileSync(new URL('./memory-manager.ts', import.meta.url), 'utf8');

describe('MemoryManager structure', () => {
  it('calls runToolLoop from @buddy/core and never calls the model itself', () => {
    expect(source).toMatch(/import \{[^}]*\brunToolLoop\b[^}]*\} from '@buddy\/core'/);
    expect(source).toMatch(/\brunToolLoop\(\{/);
    expect(source).not.toMatch(/\.generate\(|\.stream\(/);
    expect(source).not.toMatch(/for \(let round/);
  });
});
