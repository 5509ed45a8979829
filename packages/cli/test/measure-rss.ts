/**
 * `buddy` as plain JavaScript for memory measurements: `bundleMeasuredBin()` bundles this
 * package's `runCli`, core and `@buddy/db-sqlite` from source with esbuild (the native driver
 * stays external), so the child runs on Node alone, as an installed `buddy` does, without the
 * TypeScript loader's own memory. When the process exits it writes its peak resident set size
 * (`process.resourceUsage().maxRSS`, the kernel's high-water mark, native memory included) to
 * stderr as `buddy-test-max-rss-kb=<n>`.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Bundles the measured bin; resolves with the path of the JavaScript file to run. */
export async function bundleMeasuredBin(): Promise<string> {
  const { build } = await import('esbuild');
  const directory = fileURLToPath(
    new URL('../node_modules/.cache/buddy-cli-test/', import.meta.url),
  );
  mkdirSync(directory, { recursive: true });
  const outfile = `${directory}measured-bin.mjs`;
  await build({
    entryPoints: [fileURLToPath(new URL('./measured-bin.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@buddy/source'],
    outfile,
    external: [
      'better-sqlite3',
      'ioredis',
      'pg',
      'sqlite-vec',
      '@opentelemetry/api',
      '@buddy/model-openai',
    ],
    logLevel: 'silent',
  });
  return outfile;
}
