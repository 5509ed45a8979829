/**
 * `@buddy/core/spec` is types only: every module of `src/spec/` imports and exports types alone
 * (type-only imports are erased), and declares no runtime value, so the entry's emitted JavaScript
 * imports nothing (checked on `dist` too when it was built, as CI does before testing).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && !name.includes('.test'))
  .map((name) => join(here, name));

describe('@buddy/core/spec', () => {
  it('holds type-only modules', () => {
    expect(files.length).toBeGreaterThan(4);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const statement of text.matchAll(/^(import|export)\s+(type\s+)?(\*|\{)[^;]*;/gm)) {
        expect(statement[2], `${file}: ${statement[0]}`).toBeDefined();
      }
      expect(text, file).not.toMatch(/^import\s+(?!type\b)/m);
      expect(text, file).not.toMatch(/^export (const|let|function|class|async|default)\b/m);
      expect(text, file).not.toMatch(/^(const|let|function|class) /m);
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
