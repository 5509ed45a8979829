/**
 * What each tarball ships: its build, its README, real dependency ranges, no tests, and READMEs
 * whose relative links point at files that ship too (a README read on npm links into the tarball).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { scratchDir } from './scratch.ts';
import { publishedPackages, readManifest, root } from './workspace.ts';

const installed = (name: string) => join(scratchDir(), 'node_modules/@buddy', name);

/** Relative link targets of a markdown text (`[x](./CHANGELOG.md)`), without anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => (match[1] ?? '').split('#')[0] ?? '')
    .filter((target) => target !== '' && !/^[a-z]+:/i.test(target));
}

describe('the packed tarballs, installed outside the workspace', () => {
  it('packs every published package with its dist, its README and real dependency ranges', () => {
    expect(Object.keys(inject('tarballs')).sort()).toEqual(publishedPackages());
    for (const name of publishedPackages()) {
      const manifest = readManifest(installed(name));
      const ranges = JSON.stringify({ ...manifest.peerDependencies, ...manifest.dependencies });
      expect(ranges, `${name} leaks a workspace: range`).not.toContain('workspace:');
      const files = readdirSync(installed(name));
      expect(files, name).toEqual(expect.arrayContaining(['dist', 'README.md', 'package.json']));
      const dist = readdirSync(join(installed(name), 'dist'), { recursive: true }).map(String);
      expect(dist, name).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']));
      expect(
        dist.filter((file) => file.endsWith('.test.js')),
        `${name} ships tests`,
      ).toEqual([]);
    }
  });

  it('ships every file a package README links to (no CHANGELOG.md link before there is one)', () => {
    for (const name of publishedPackages()) {
      const readme = readFileSync(join(installed(name), 'README.md'), 'utf8');
      const missing = relativeLinks(readme).filter(
        (target) => !existsSync(join(installed(name), target)),
      );
      expect(missing, `packages/${name}/README.md links to files its tarball lacks`).toEqual([]);
    }
  });

  it('has no broken relative link in the root README', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const missing = relativeLinks(readme).filter((target) => !existsSync(join(root, target)));
    expect(missing).toEqual([]);
  });
});
