/**
 * `@buddy/core/spec` is types only: every module it reaches imports and exports types alone and
 * declares no runtime value, so its emitted JavaScript imports nothing and type-checking it needs
 * nothing but its own types (no Node types: a browser bundle can use it). Checked on `dist` too
 * when it was built, as CI does before testing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** The modules reachable from `file` through relative imports (type-only ones included). */
function graph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/from '(\.[^']+)'/g)) {
    graph(resolve(dirname(file), match[1] as string), seen);
  }
  return seen;
}

describe('@buddy/core/spec', () => {
  it('reaches only type-only modules', () => {
    const files = [...graph(join(here, 'index.ts'))];
    expect(files.length).toBeGreaterThan(4);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const statement of text.matchAll(/^(import|export)\s+(type\s+)?(\*|\{)[^;]*;/gm)) {
        expect(statement[2], `${file}: ${statement[0]}`).toBeDefined();
      }
      expect(text, file).not.toMatch(/^import\s+(?!type\b)/m);
      expect(text, file).not.toMatch(/^export (const|let|function|class|async|default)\b/m);
      expect(text, file).not.toMatch(/^(const|let|function|class) /m);
      expect(text, file).not.toMatch(/from 'node:/);
    }
  });

  it('emits JavaScript without imports', (context) => {
    const emitted = join(here, '../../dist/spec');
    if (!existsSync(emitted)) context.skip();
    for (const name of readdirSync(emitted).filter((entry) => entry.endsWith('.js'))) {
      const code = readFileSync(join(emitted, name), 'utf8');
      expect(code, name).not.toMatch(/\bimport\b|\brequire\(/);
    }
  });
});
