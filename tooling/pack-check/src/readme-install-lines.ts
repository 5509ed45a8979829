/**
 * Reads what the READMEs tell a newcomer to type: every `pnpm add …` line (in code blocks and
 * inline code), and the `allowBuilds` block they are told to put in `pnpm-workspace.yaml`.
 * pack-check installs exactly that, so a README that drifts from the packages fails a test.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { publishedPackages, root } from './workspace.ts';

/** One package named on an install line: `openai@^6` → `{ name: 'openai', range: '^6' }`. */
export interface InstallSpec {
  /** As written. */
  token: string;
  name: string;
  /** `undefined` when the line gives no range (`pnpm add openai`). */
  range: string | undefined;
}

/** One `pnpm add` line of a README. */
export interface InstallLine {
  /** The README, relative to the repository root. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The command as written, without a trailing comment. */
  text: string;
  /** `-D` / `--save-dev`. */
  dev: boolean;
  specs: InstallSpec[];
}

/** The root README and the README of every published package. */
export function readmeFiles(): string[] {
  return [
    join(root, 'README.md'),
    ...publishedPackages().map((name) => join(root, 'packages', name, 'README.md')),
  ];
}

/** Splits `name@range` (also `@scope/name@range`) into its name and range. */
export function parseSpec(token: string): InstallSpec {
  const at = token.indexOf('@', token.startsWith('@') ? 1 : 0);
  if (at === -1) return { token, name: token, range: undefined };
  return { token, name: token.slice(0, at), range: token.slice(at + 1) || undefined };
}

/** Every `pnpm add` line of the given READMEs, in file order. */
export function readInstallLines(files: readonly string[] = readmeFiles()): InstallLine[] {
  const lines: InstallLine[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8').split('\n');
    text.forEach((content, index) => {
      // A command ends at a closing backtick, a comment, a table cell, a shell separator or the
      // parenthesis around a command quoted in prose or in a code comment.
      for (const match of content.matchAll(/\bpnpm add\s+([^`#|;&)\n]+)/g)) {
        const tokens = (match[1] ?? '').trim().split(/\s+/).filter(Boolean);
        const dev = tokens.some((token) => token === '-D' || token === '--save-dev');
        const specs = tokens.filter((token) => !token.startsWith('-')).map(parseSpec);
        lines.push({
          file: relative(root, file),
          line: index + 1,
          text: `pnpm add ${tokens.join(' ')}`,
          dev,
          specs,
        });
      }
    });
  }
  return lines;
}

/**
 * The `allowBuilds` entries of every ```yaml block in the READMEs that configures
 * `pnpm-workspace.yaml` (`name: true|false` lines under `allowBuilds:`).
 */
export function readAllowBuilds(files: readonly string[] = readmeFiles()): Record<string, boolean> {
  const allowed: Record<string, boolean> = {};
  for (const file of files) {
    const blocks = readFileSync(file, 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g);
    for (const block of blocks) {
      const body = block[1] ?? '';
      if (!body.includes('pnpm-workspace.yaml') || !body.includes('allowBuilds:')) continue;
      const section = body.slice(body.indexOf('allowBuilds:') + 'allowBuilds:'.length);
      for (const line of section.split('\n')) {
        const entry = /^\s+(['"]?)([@\w./-]+)\1:\s*(true|false)\b/.exec(line);
        if (entry === null) {
          if (line.trim() !== '' && !line.trim().startsWith('#') && !/^\s/.test(line)) break;
          continue;
        }
        allowed[entry[2] as string] = entry[3] === 'true';
      }
    }
  }
  return allowed;
}
