// The package's entries (package.json "exports"): require('vitorch') is the library without the server's
// dependencies (fastify, pino, prom-client: ~180 modules), 'vitorch/server' is the server, and internals are not
// importable by path. Run on the compiled dist/ in fresh processes, through the package's own name (self-reference).
import { spawnSync } from 'child_process';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');

function node(script: string): string {
  const run = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`node -e failed (${run.status}):\n${run.stderr}`);
  return run.stdout.trim();
}

const SERVER_MODULES = `Object.keys(require.cache).filter((f) => /[\\\\/]node_modules[\\\\/](fastify|pino|prom-client)[\\\\/]/.test(f)).length`;

test("require('vitorch') loads no server dependency until createServer is called", () => {
  const [before, exported, after] = JSON.parse(
    node(`
    const v = require('vitorch');
    const before = ${SERVER_MODULES};
    const exported = ['createServer', 'Batcher', 'handleShutdownSignals', 'VisionTransformer', 'loadClassifier'].filter((n) => v[n]);
    const app = v.createServer({ logger: false });
    console.log(JSON.stringify([before, exported, ${SERVER_MODULES}]));
    app.close();`),
  );
  expect(before).toBe(0);
  expect(exported).toEqual(['createServer', 'Batcher', 'handleShutdownSignals', 'VisionTransformer', 'loadClassifier']);
  expect(after).toBeGreaterThan(0);
});

test("'vitorch/server' is the server's entry; internals are not exported", () => {
  expect(node(`const s = require('vitorch/server'); console.log(Object.keys(s).sort().join(','))`)).toBe(
    'Batcher,createServer,handleShutdownSignals,listenGrpc',
  );
  expect(
    node(`try { require('vitorch/dist/lib/binding'); console.log('resolved') } catch (e) { console.log(e.code) }`),
  ).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  expect(node(`console.log(require('vitorch/package.json').name)`)).toBe('vitorch');
});
