/**
 * Serves the web UI that `vite build` wrote to the package's `dist/ui` (shipped in the npm
 * tarball, so users need no build step). The files are read once, on the first request, into
 * memory: only files that exist there can be served, so no request path ever reaches the file
 * system. This module sits directly in `src/` (and `dist/`), so the package root is one level up
 * both when running from source and from the build.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own files and talk only to its own origin: no inline scripts, no
 * external fonts, scripts or connections. A stored `<script>` could not run even if it were ever
 * rendered as HTML (the UI renders everything as text).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface Asset {
  body: Uint8Array;
  type: string;
  immutable: boolean;
}

/** The directory `vite build` writes to. */
export const UI_DIR = fileURLToPath(new URL('../dist/ui/', import.meta.url));

function readTree(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        visit(path);
        continue;
      }
      const urlPath = `/${relative(root, path).split(sep).join('/')}`;
      assets.set(urlPath, {
        body: readFileSync(path),
        type: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
        // Vite puts content hashes in the names of everything under assets/.
        immutable: urlPath.startsWith('/assets/'),
      });
    }
  };
  visit(root);
  return assets;
}

/** Answers GET/HEAD requests for the UI's files. */
export class UiAssets {
  readonly #dir: string;
  #assets: Map<string, Asset> | undefined;

  constructor(dir: string = UI_DIR) {
    this.#dir = dir;
  }

  #load(): Map<string, Asset> | undefined {
    if (this.#assets === undefined) {
      try {
        const assets = readTree(this.#dir);
        if (assets.has('/index.html')) this.#assets = assets;
      } catch {
        // Not built: answered below, and retried on the next request.
      }
    }
    return this.#assets;
  }

  /** The answer for `pathname`: a file, the page for `/`, or a 404. */
  serve(pathname: string, method: string): Response {
    const assets = this.#load();
    if (assets === undefined) {
      return new Response(
        'The Buddy Studio web UI is not built. Run `pnpm --filter @buddy/studio build` (the JSON API under /api works without it).\n',
        {
          status: 503,
          headers: { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS },
        },
      );
    }
    const asset = assets.get(pathname === '/' ? '/index.html' : pathname);
    if (asset === undefined) {
      return new Response('Not found\n', {
        status: 404,
        headers: { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS },
      });
    }
    return new Response(method === 'HEAD' ? null : new Uint8Array(asset.body), {
      status: 200,
      headers: {
        'content-type': asset.type,
        'content-length': String(asset.body.byteLength),
        'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        ...SECURITY_HEADERS,
      },
    });
  }
}
