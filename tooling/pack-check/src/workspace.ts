/**
 * The workspace as pack-check sees it: where it is, which packages get published, and their
 * manifests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo root. */
export const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The fields of a package.json that pack-check reads. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  engines?: { node?: string };
}

/** The package.json in `directory`. */
export function readManifest(directory: string): Manifest {
  return JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as Manifest;
}

/** Folder names under `packages/` of every package that is published (not `private`). */
export function publishedPackages(): string[] {
  return readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => {
      try {
        return readManifest(join(root, 'packages', name)).private !== true;
      } catch {
        return false;
      }
    })
    .sort();
}

/** Whether `CI` is set to something truthy (missing services fail there instead of skipping). */
export function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}
