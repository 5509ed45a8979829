/**
 * The READMEs' install lines against the packages' declared peers. Statically: every line names
 * a range for each third-party package, inside every peer range declared for it, and lists the
 * required peers of the Buddy packages it installs. After the global setup installed exactly
 * those lines: every peer a Buddy package resolves is inside its declared range and supports the
 * running Node (`pnpm add … openai` once took openai 7, which needs Node 22).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { type InstallLine, readAllowBuilds, readInstallLines } from './readme-install-lines.ts';
import { scratchDir } from './scratch.ts';
import { type Manifest, publishedPackages, readManifest } from './workspace.ts';

const lines = readInstallLines();
const where = (line: InstallLine) => `${line.file}:${line.line} \`${line.text}\``;

/** The published manifests (ranges as `pnpm pack` writes them), by package name. */
function packedManifests(): Map<string, Manifest> {
  const manifests = new Map<string, Manifest>();
  for (const name of publishedPackages()) {
    const manifest = readManifest(join(scratchDir(), 'node_modules/@buddy', name));
    manifests.set(manifest.name, manifest);
  }
  return manifests;
}

/** The package.json of `name` as seen from `fromDir` (Node's lookup: up the node_modules chain). */
function resolveInstalled(fromDir: string, name: string): Manifest | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return JSON.parse(readFileSync(candidate, 'utf8')) as Manifest;
    if (dirname(dir) === dir) return undefined;
  }
}

describe('README install lines', () => {
  it('are found in the root README and in every package README', () => {
    const files = new Set(lines.map((line) => line.file));
    expect(files).toContain('README.md');
    for (const name of publishedPackages()) expect(files).toContain(`packages/${name}/README.md`);
  });

  it('give every third-party package a range inside every peer range declared for it', () => {
    const manifests = packedManifests();
    const problems: string[] = [];
    for (const line of lines) {
      for (const spec of line.specs) {
        if (spec.name.startsWith('@buddy/')) continue;
        if (spec.range === undefined) {
          problems.push(`${where(line)}: ${spec.name} has no range`);
          continue;
        }
        for (const manifest of manifests.values()) {
          const declared = manifest.peerDependencies?.[spec.name];
          if (declared !== undefined && !semver.subset(spec.range, declared)) {
            problems.push(
              `${where(line)}: ${spec.token} reaches outside ${manifest.name}'s peer range ${declared}`,
            );
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('name the same range for a package everywhere', () => {
    const seen = new Map<string, { range: string | undefined; line: InstallLine }>();
    const problems: string[] = [];
    for (const line of lines) {
      for (const spec of line.specs) {
        const first = seen.get(spec.name);
        if (first === undefined) seen.set(spec.name, { range: spec.range, line });
        else if (first.range !== spec.range)
          problems.push(`${where(line)}: ${spec.token}, but ${where(first.line)} says otherwise`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('list the required peers of every Buddy package they install', () => {
    const manifests = packedManifests();
    const problems: string[] = [];
    for (const line of lines) {
      const named = new Set(line.specs.map((spec) => spec.name));
      for (const spec of line.specs) {
        const manifest = manifests.get(spec.name);
        if (manifest === undefined) continue;
        for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
          const optional = manifest.peerDependenciesMeta?.[peer]?.optional === true;
          if (!optional && !named.has(peer))
            problems.push(`${where(line)}: ${spec.name} needs ${peer} on the same line`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('approve the native build the install needs (allowBuilds in a README)', () => {
    expect(readAllowBuilds()).toMatchObject({ 'better-sqlite3': true });
  });

  it('install peers inside their declared ranges, supporting this Node', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const name of publishedPackages()) {
      const directory = realpathSync(join(scratchDir(), 'node_modules/@buddy', name));
      const manifest = readManifest(directory);
      for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) {
        const found = resolveInstalled(directory, peer);
        if (found === undefined) {
          if (manifest.peerDependenciesMeta?.[peer]?.optional !== true)
            problems.push(`${manifest.name}: required peer ${peer} is not installed`);
          continue;
        }
        checked += 1;
        if (!semver.satisfies(found.version, range))
          problems.push(`${manifest.name}: peer ${peer}@${found.version} is outside ${range}`);
        const engines = found.engines?.node;
        if (engines !== undefined && !semver.satisfies(process.versions.node, engines))
          problems.push(
            `${manifest.name}: peer ${peer}@${found.version} needs Node ${engines}, this is ${process.versions.node}`,
          );
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(publishedPackages().length);
  });
});
