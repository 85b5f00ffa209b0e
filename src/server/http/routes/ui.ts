/**
 * The dashboard's static files (`npm run build` puts them in dist/ui) at `/ui` and `/ui/<file>`.
 * They need no token: the page holds no data, and its data calls carry the token it asks for.
 *
 * Only plain file names directly in that folder are served (letters, digits, `.`, `_`, `-`, not
 * beginning with a dot), so no path can reach outside it. Files are read at each request and
 * revalidated by the browser (ETag, `no-cache`): a rebuild shows without a restart.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RomanaError } from '../../../errors.ts';
import type { TypedApp } from './types.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** What the page may load: itself, its script and stylesheet, data from romanad. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Where dist/ui may be: beside the running bundle (dist/romanad.cjs), or in the checkout or
 * package that bin/romanad.js belongs to (romanad run from its sources), or under the working
 * directory.
 */
export function uiDirCandidates(): string[] {
  const out: string[] = [];
  if (typeof __dirname === 'string') out.push(path.join(__dirname, 'ui'));
  const main = process.argv[1];
  if (main !== undefined) out.push(path.resolve(path.dirname(main), '..', 'dist', 'ui'));
  out.push(path.resolve('dist', 'ui'));
  return [...new Set(out)];
}

function findUiDir(candidates: readonly string[]): string | undefined {
  return candidates.find((d) => existsSync(path.join(d, 'index.html')));
}

/** The marker in index.html that tells the page whether romanad wants a token. */
const AUTH_META = '<meta name="romanad-auth" content="none" />';

export interface UiOptions {
  /** Serve from here (default: the first of `uiDirCandidates()` holding an index.html). */
  dir?: string | undefined;
  /**
   * romanad wants tokens: the page is told so (in index.html) and asks for one before its
   * first data call, instead of learning it from a refused request.
   */
  tokens?: boolean;
}

/** Registers `/ui` and `/ui/*`. Without a build, the folder is looked up at each request. */
export function uiRoutes(app: TypedApp, opts: UiOptions = {}): void {
  const candidates = opts.dir === undefined ? uiDirCandidates() : [opts.dir];
  const tokens = opts.tokens === true;
  let found = findUiDir(candidates);
  const options = { config: { access: 'public' as const }, logLevel: 'warn' as const };

  const serve = async (
    file: string,
    req: { url: string; headers: Record<string, string | string[] | undefined> },
    reply: import('fastify').FastifyReply,
  ) => {
    // Looked up again while there is no build (or it was removed): `npm run build` shows
    // without a restart.
    if (found === undefined || !existsSync(path.join(found, 'index.html'))) {
      found = findUiDir(candidates);
    }
    if (found === undefined) {
      throw new RomanaError(
        'NotFound',
        `The dashboard is not built: no index.html in ${candidates.join(' or ')}; run \`npm run build\``,
        { resourceType: 'URI', resourceId: req.url },
      );
    }
    const full = path.join(found, file);
    const type = TYPES[path.extname(file)];
    const st = SAFE_NAME.test(file) ? statSync(full, { throwIfNoEntry: false }) : undefined;
    if (type === undefined || st === undefined || !st.isFile() || path.dirname(full) !== found) {
      throw new RomanaError('NotFound', `No file '${file}' in the dashboard`, {
        resourceType: 'URI',
        resourceId: req.url,
      });
    }
    const page = file === 'index.html';
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}${page && tokens ? '-t' : ''}"`;
    void reply
      .header('cache-control', 'no-cache')
      .header('etag', etag)
      .header('x-content-type-options', 'nosniff');
    if (type.startsWith('text/html')) void reply.header('content-security-policy', CSP);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    const body = readFileSync(full);
    if (!page || !tokens) return reply.type(type).send(body);
    return reply
      .type(type)
      .send(body.toString('utf8').replace(AUTH_META, AUTH_META.replace('none', 'token')));
  };

  // `/ui` and `/ui/` are one route (trailing slashes are ignored): send `/ui` to `/ui/`, so
  // that the page's relative links resolve inside it.
  app.get('/ui', options, async (req, reply) => {
    const [p, q] = req.url.split('?', 2);
    if (!p!.endsWith('/')) return reply.redirect(`${p}/${q === undefined ? '' : `?${q}`}`, 302);
    return serve('index.html', req, reply);
  });
  app.get('/ui/*', options, async (req, reply) => {
    const file = (req.params as { '*': string })['*'];
    return serve(file === '' ? 'index.html' : file, req, reply);
  });
}
