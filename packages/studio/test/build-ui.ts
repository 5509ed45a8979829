/**
 * Vitest global setup: builds the web UI into `dist/ui` with Vite's API (about a second), so the
 * browser tests always see the current sources, on a fresh clone as after an edit.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export default async function buildUi(): Promise<void> {
  await build({
    configFile: fileURLToPath(new URL('../ui/vite.config.ts', import.meta.url)),
    logLevel: 'warn',
  });
}
