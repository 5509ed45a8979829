/**
 * Loaders for recorded provider responses in `src/__fixtures__/` (the AI SDK's convention):
 * `<provider>-<scenario>.json` holds one JSON body, `<provider>-<scenario>.chunks.txt` one JSON
 * stream event per line (blank lines ignored).
 */
import { readFileSync } from 'node:fs';

/**
 * Reads a JSON fixture.
 *
 * @example
 * const completion = loadJsonFixture(new URL('./__fixtures__/openai-text.json', import.meta.url));
 */
export function loadJsonFixture(file: URL | string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`loadJsonFixture: ${String(file)} is not valid JSON`, { cause: error });
  }
}

/**
 * Reads a `.chunks.txt` fixture: one JSON event per line.
 *
 * @example
 * const chunks = loadChunksFixture(new URL('./__fixtures__/openai-text.chunks.txt', import.meta.url));
 * sseResponse(chunks, { dialect: 'openai' });
 */
export function loadChunksFixture(file: URL | string): unknown[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const events: unknown[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      events.push(JSON.parse(line));
    } catch (error) {
      throw new Error(`loadChunksFixture: ${String(file)} line ${index + 1} is not valid JSON`, {
        cause: error,
      });
    }
  });
  return events;
}
