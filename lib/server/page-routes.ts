// GET / : one small page for people, served by the server itself: pick or drop an image, see the top classes and the
// attention overlay (/v1/classify?explain=1), pick a model (/v1/models), follow links to the model's metadata and
// /metrics. Three static files from assets/page/ (HTML, script, style), plain JavaScript with no build step and no
// library: what the page does (a form, a fetch, a list of bars, an <img>) is a few DOM calls, and a library would
// be more to ship and keep current than the page itself. Nothing comes from elsewhere, so the page works offline, and
// the Content-Security-Policy admits this origin only (images also as data: URLs, the overlay's form). The files are
// read once, at the first request, and answer in every phase of the server, so the page can say it is loading.
import * as fs from 'fs';
import * as path from 'path';
import type { FastifyInstance } from 'fastify';

/** The page's routes and their files: app.ts keeps them open in every phase and out of the compute checks. */
export const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  '/page/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
};

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** assets/page from lib/server (ts-jest) or dist/lib/server (compiled). */
function pageDir(): string {
  const candidates = [
    path.join(__dirname, '..', '..', 'assets', 'page'),
    path.join(__dirname, '..', '..', '..', 'assets', 'page'),
  ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`vitorch: the page's files are missing (looked in ${candidates.join(' and ')})`);
  return found;
}

export function registerPageRoutes(app: FastifyInstance): void {
  const cache = new Map<string, Buffer>();
  for (const [route, { file, type }] of Object.entries(PAGE_FILES)) {
    app.get(route, async (_request, reply) => {
      let body = cache.get(file);
      if (!body) {
        body = await fs.promises.readFile(path.join(pageDir(), file));
        cache.set(file, body);
      }
      reply
        .type(type)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache');
      return body;
    });
  }
}
