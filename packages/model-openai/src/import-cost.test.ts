/**
 * Importing the package stays cheap: the tokenizer (hundreds of milliseconds and ~100 MB for
 * o200k) is loaded by the first `countTokens` call only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';

/** Every bare specifier the package's modules import statically, from `src/index.ts` down. */
function staticImports(entry: URL): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: URL) => {
    if (seen.has(file.href)) return;
    seen.add(file.href);
    const source = readFileSync(file, 'utf8');
    // `import ... from 'x'`, `export ... from 'x'`, `import 'x'` (type-only imports included:
    // over-reporting is safe here), and `import('x')`.
    const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;
    for (const [, specifier] of source.matchAll(pattern)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith('.')) visit(new URL(specifier, file));
      else bare.add(specifier);
    }
  };
  visit(entry);
  return bare;
}

it('imports gpt-tokenizer from no module of the package (statically or dynamically)', () => {
  const imports = [...staticImports(new URL('./index.ts', import.meta.url))];
  expect(imports).toContain('openai'); // the walk does see the package's imports
  expect(imports.filter((specifier) => specifier.startsWith('gpt-tokenizer'))).toEqual([]);
});

it('loads gpt-tokenizer on the first countTokens call, not on import or construction', async () => {
  // Vitest runs each test file in its own worker, so this module cache is this file's alone.
  const requireHere = createRequire(import.meta.url);
  const tokenizerLoaded = () =>
    Object.keys(requireHere.cache).some((path) => path.includes('gpt-tokenizer'));
  expect(tokenizerLoaded()).toBe(false);
  const { OpenAIChat, OpenAIEmbedder } = await import('./index.ts');
  const model = new OpenAIChat({ id: 'gpt-4o' });
  new OpenAIEmbedder({ apiKey: 'sk-test' });
  expect(tokenizerLoaded()).toBe(false);
  expect(model.countTokens('Hello, world!')).toBe(4);
  expect(tokenizerLoaded()).toBe(true);
});
