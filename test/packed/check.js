// Runs inside the fresh project test/packed/install.sh made: requires the installed vitorch (its prebuilt binary,
// loaded onto the libtorch found at run time), forwards the `small` parity fixture and compares with PyTorch's
// output (tools/make_fixtures.py), within the parity tests' tolerance: max |error| <= 1e-4 of the output's scale.
// Then a gRPC call to vitorch/server's listenGrpc, which reads the package's protos/ at run time.
'use strict';
const fs = require('fs');
const path = require('path');

const fixtures = process.argv[2];
const v = require('vitorch');
const installed = path.dirname(require.resolve('vitorch/package.json'));
// Internals are not exported (package.json "exports"): the binding is reached by its path, the same module instance.
const { addonFiles, libtorch } = require(path.join(installed, 'dist', 'lib', 'binding.js'));
// The root leaves the server's dependencies unloaded; 'vitorch/server' is its own entry.
const serverModules = () => Object.keys(require.cache).filter((file) => /[\\/]node_modules[\\/](fastify|pino|prom-client)[\\/]/.test(file));
if (serverModules().length > 0) throw new Error(`require('vitorch') loaded ${serverModules()[0]}`);
if (typeof require('vitorch/server').createServer !== 'function') throw new Error("require('vitorch/server') has no createServer");
if (serverModules().length === 0) throw new Error("require('vitorch/server') did not load fastify");
let deep = null;
try { require('vitorch/dist/lib/binding'); } catch (error) { deep = error.code; }
if (deep !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw new Error(`a deep import of vitorch's internals resolved (${deep})`);
if (!addonFiles.addon.startsWith(path.join(installed, 'prebuilds') + path.sep)) {
  throw new Error(`expected the prebuilt addon under ${installed}/prebuilds, loaded ${addonFiles.addon}`);
}

const manifest = JSON.parse(fs.readFileSync(path.join(fixtures, 'manifest.json'), 'utf8'));
const read = (file) => {
  const bytes = fs.readFileSync(path.join(fixtures, file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const fixture = manifest.cases.find((c) => c.name === 'small-b1');
const model = new v.VisionTransformer(manifest.models[fixture.model].config);
model.loadStateDict(path.join(fixtures, manifest.models[fixture.model].checkpoint), { strict: true });
model.eval();
const output = model.forward(v.tensor(read(fixture.input), fixture.inputShape)).toFloat32Array();
const expected = read(fixture.output);
let error = 0;
let scale = 0;
for (let i = 0; i < expected.length; i++) {
  error = Math.max(error, Math.abs(output[i] - expected[i]));
  scale = Math.max(scale, Math.abs(expected[i]));
}
const summary = `${fixture.name}: max |error| ${error.toExponential(2)} against PyTorch, output scale ${scale.toFixed(3)}; ` +
  `addon ${path.relative(installed, addonFiles.addon)}, libtorch ${libtorch.version} (${libtorch.foundBy})`;
if (output.length !== expected.length || !(error <= 1e-4 * scale)) throw new Error(`mismatch: ${summary}`);
console.log(`packed install: ${summary}`);

// gRPC from the installed package: its protos/ found from dist/, a call answered through the package's own grpc-js.
(async () => {
  const grpc = require('@grpc/grpc-js');
  const loader = require('@grpc/proto-loader');
  const server = require('vitorch/server');
  const app = server.createServer({ logger: false });
  try {
    const port = await server.listenGrpc(app, { port: 0 });
    const protos = path.join(installed, 'protos');
    const definition = loader.loadSync(path.join(protos, 'grpc_service.proto'), { keepCase: true, includeDirs: [protos] });
    const Service = grpc.loadPackageDefinition(definition).inference.GRPCInferenceService;
    const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const metadata = await new Promise((resolve, reject) =>
      client.ServerMetadata({}, (error, response) => (error ? reject(error) : resolve(response))),
    );
    client.close();
    if (metadata.name !== 'vitorch') throw new Error(`gRPC ServerMetadata answered ${JSON.stringify(metadata)}`);
    console.log(`packed install: gRPC ServerMetadata answered ${metadata.name} ${metadata.version}`);
  } finally {
    await app.close();
  }
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
