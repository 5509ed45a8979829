/**
 * Builds the Studio's web UI into the package's `dist/ui` (shipped in the tarball). Preact's JSX
 * goes through Vite's built-in oxc transform; no plugins. Asset URLs are relative (`base: './'`)
 * so the UI also works when `studio.fetch` is mounted under a path prefix, and nothing is inlined
 * into the HTML (no module-preload polyfill), so the page runs under a CSP without
 * `'unsafe-inline'`.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  logLevel: 'warn',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
});
