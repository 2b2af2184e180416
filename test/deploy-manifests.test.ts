// The deployment example, examples/deploy/, checked without a cluster or a Docker daemon: KServe's manifests against
// KServe's CRD schemas (tools/validate_deploy_manifests.py, which also parses the Dockerfile for this file); the
// manifests against each other, the Dockerfile's command and `vitorch serve`'s flags (SERVE_USAGE); and the two
// commands they run, the image's CMD and the ServingRuntime's args, run here on a model laid out as the image and
// KServe lay it out, probed as Docker's HEALTHCHECK and the kubelet probe it, and stopped with SIGTERM.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { defaultModelDir } from '../lib';
import { SERVE_USAGE } from '../lib/cli/serve';
import { python, tool } from './python';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'vitorch.js');
const KSERVE = path.join(ROOT, 'examples', 'deploy', 'kserve');
// Where KServe sends HTTP traffic, and probes by default, when a runtime's container declares no port
// (pkg/constants/constants.go: InferenceServiceDefaultHttpPort).
const KSERVE_DEFAULT_HTTP_PORT = 8080;
// Time for the kubelet's SIGKILL not to race the end of the drain.
const GRACE_MARGIN_MS = 5000;

/** A parsed manifest: data whose fields the tests below check one by one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- typing KServe's CRDs here would be most of this file
type Yaml = any;

interface Deployment {
  schemas: { ref: string; commit: string };
  documents: { file: string; kind: string; name: string; errors: string[]; document: Yaml }[];
  dockerfile: {
    stages: (string | null)[];
    final: {
      env: Record<string, string>;
      expose: string[];
      user?: string;
      stopsignal?: string;
      healthcheck?: { options: Record<string, string>; cmd: string[] };
      entrypoint?: string[];
      cmd?: string[];
    };
  };
}

function validate(args: string[] = []) {
  return spawnSync(python(), [tool('validate_deploy_manifests.py'), '--json', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
}

/** `--name=value` arguments as a map (every argument here has that form, so that each one is one list item). */
function flags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([a-z][a-z-]*)=(.*)$/.exec(arg);
    if (!match) throw new Error(`expected --name=value, received ${JSON.stringify(arg)}`);
    out.set(match[1], match[2]);
  }
  return out;
}

let deployment: Deployment;
let runtime: Yaml;
let runtimeContainer: Yaml;
let services: Yaml[];
let image: Deployment['dockerfile']['final'];
beforeAll(() => {
  const run = validate();
  if (run.status !== 0 && run.status !== 1) throw new Error(`validate_deploy_manifests.py failed:\n${run.stderr}`);
  deployment = JSON.parse(run.stdout) as Deployment;
  const ofKind = (kind: string) => deployment.documents.filter((d) => d.kind === kind).map((d) => d.document);
  [runtime] = ofKind('ServingRuntime');
  runtimeContainer = runtime?.spec.containers.find((c: Yaml) => c.name === 'kserve-container');
  services = ofKind('InferenceService');
  image = deployment.dockerfile.final;
});

test("every manifest validates against KServe's CRD schemas and its controller's rules", () => {
  expect(deployment.schemas.commit).toMatch(/^[0-9a-f]{40}$/);
  const found = deployment.documents.map((d) => `${d.kind}/${d.name}`).sort();
  expect(found).toEqual([
    'InferenceService/fashion-mnist',
    'InferenceService/fashion-mnist-grpc',
    'ServingRuntime/vitorch',
  ]);
  for (const d of deployment.documents)
    expect({ document: `${d.file} ${d.name}`, errors: d.errors }).toEqual({
      document: `${d.file} ${d.name}`,
      errors: [],
    });
});

test('the validator is not vacuous: a misspelt field, a wrong type and a missing protocolVersion are errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-deploy-'));
  try {
    const edit = (file: string, from: RegExp, to: string) => {
      const text = fs.readFileSync(path.join(KSERVE, file), 'utf8');
      expect(text).toMatch(from);
      fs.writeFileSync(path.join(dir, file), text.replace(from, to));
    };
    edit('servingruntime.yaml', /readinessProbe:/, 'readinesProbe:');
    edit('inferenceservice.yaml', /terminationGracePeriodSeconds: \d+/, 'terminationGracePeriodSeconds: soon');
    edit('inferenceservice-grpc.yaml', /\n\s*protocolVersion: grpc-v2/, '');
    const run = validate(['--manifests', dir]);
    expect(run.status).toBe(1);
    const errors = (JSON.parse(run.stdout) as Deployment).documents.flatMap((d) => d.errors);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^spec\.containers\[0\]: Additional properties .*'readinesProbe' was unexpected/),
        "spec.predictor.terminationGracePeriodSeconds: 'soon' is not of type 'integer'",
        expect.stringMatching(/^spec\.predictor\.model\.protocolVersion: 'v1' is not among the protocolVersions/),
      ]),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("vitorch serve has every flag that the image's CMD and the ServingRuntime pass it", () => {
  // Fails until lib/cli/serve.ts has the flags the deployment uses (--model, --model-repository, --grpc-port).
  const usage = new Set(SERVE_USAGE.match(/--[a-z][a-z-]*/g)!.map((flag) => flag.slice(2)));
  const used = new Set([...flags(image.cmd!).keys(), ...flags(runtimeContainer.args).keys()]);
  for (const flag of ['model', 'model-repository', 'grpc-port', 'grace-period-ms', 'host', 'port'])
    expect(used.has(flag)).toBe(true);
  const missing = [...used].filter((flag) => !usage.has(flag));
  expect({ missing, usage: SERVE_USAGE }).toEqual({ missing: [], usage: SERVE_USAGE });
});

test('the image: multi-stage, exec-form vitorch serve on all interfaces, the ports it exposes, SIGTERM, non-root', () => {
  expect(deployment.dockerfile.stages.length).toBeGreaterThanOrEqual(2);
  expect(image.entrypoint).toEqual(['vitorch', 'serve']);
  const cmd = flags(image.cmd!);
  expect(cmd.get('host')).toBe('0.0.0.0');
  // KServe's storage initializer writes the storageUri there; `docker run -v DIR:/mnt/models` mounts it there.
  expect(cmd.get('model-repository')).toBe('/mnt/models');
  expect(image.expose).toEqual([cmd.get('port'), cmd.get('grpc-port')]);
  expect(image.stopsignal).toBe('SIGTERM');
  // A number, which Kubernetes' runAsNonRoot can check (a name it cannot), and not root's.
  expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/);
  expect(image.env.LIBTORCH).toMatch(/^\/opt\/.+\/torch$/);
  // The HEALTHCHECK asks the CMD's own port for readiness.
  const health = new URL(image.env.VITORCH_HEALTHCHECK_URL);
  expect([health.hostname, health.port, health.pathname]).toEqual(['127.0.0.1', cmd.get('port'), '/v2/health/ready']);
  expect(image.healthcheck!.cmd.join(' ')).toContain('process.env.VITORCH_HEALTHCHECK_URL');
});

test("the ServingRuntime runs the image's command on KServe's ports, with probes on its HTTP port", () => {
  const args = flags(runtimeContainer.args);
  const cmd = flags(image.cmd!);
  // The same flags as the image's CMD, which these args replace, but for the model: KServe's one model, named
  // after the InferenceService, rather than a repository.
  const expected = [...cmd.keys()].map((flag) => (flag === 'model-repository' ? 'model' : flag)).sort();
  expect([...args.keys()].sort()).toEqual(expected);
  expect(args.get('model')).toBe('{{.Name}}=/mnt/models');
  expect(args.get('host')).toBe(cmd.get('host'));
  expect(args.get('grace-period-ms')).toBe(cmd.get('grace-period-ms'));
  // No declared port, so that a gRPC InferenceService can add its h2c port as the only one (Knative takes one).
  expect(runtimeContainer.ports).toBeUndefined();
  const http = Number(args.get('port'));
  const grpc = Number(args.get('grpc-port'));
  expect(http).toBe(KSERVE_DEFAULT_HTTP_PORT);
  expect(grpc).not.toBe(http);
  expect(runtimeContainer.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: http });
  expect(runtimeContainer.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: http });
  expect(runtimeContainer.startupProbe.httpGet).toEqual({ path: '/v2/health/live', port: http });
  expect(runtime.spec.annotations['prometheus.kserve.io/port']).toBe(String(http));
  expect(runtime.spec.protocolVersions).toEqual(expect.arrayContaining(['v2', 'grpc-v2']));
  expect(runtime.spec.supportedModelFormats).toContainEqual(
    expect.objectContaining({ name: 'vitorch', autoSelect: true }),
  );
});

test('each InferenceService: the runtime, its protocol, its port, and a grace period that covers the drain', () => {
  const args = flags(runtimeContainer.args);
  const drainMs = Number(args.get('grace-period-ms'));
  const protocols = services.map((s) => s.spec.predictor.model.protocolVersion).sort();
  expect(protocols).toEqual(['grpc-v2', 'v2']);
  for (const service of services) {
    const { predictor } = service.spec;
    const model = predictor.model;
    expect(model.runtime).toBe(runtime.metadata.name);
    expect(model.modelFormat.name).toBe('vitorch');
    expect(model.storageUri).toMatch(/^[a-z0-9]+:\/\/\S+$/);
    if (model.protocolVersion === 'grpc-v2')
      expect(model.ports).toEqual([{ name: 'h2c', containerPort: Number(args.get('grpc-port')), protocol: 'TCP' }]);
    else expect(model.ports).toBeUndefined();
    // Knative refuses terminationGracePeriodSeconds (it takes the revision's timeout): Standard mode only.
    expect(service.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Standard');
    const preStopMs = (model.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
    expect(predictor.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(
      preStopMs + drainMs + GRACE_MARGIN_MS,
    );
  }
});

// Running the commands.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `vitorch ARGS` (the image's ENTRYPOINT is `vitorch serve`), with this machine's libtorch. */
function start(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

async function untilStatus(running: Running, url: string, wanted: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await status(url)) !== wanted) {
    if (running.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${url} did not answer ${wanted}; the server said:\n${running.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM');
  return running.exited;
}

/** The image's or the runtime's args with its ports replaced by free ones (the originals may be taken here). */
async function onFreePorts(args: string[]): Promise<{ args: string[]; http: number; grpc: number }> {
  const http = await freePort();
  const grpc = await freePort();
  const replaced = args.map((arg) =>
    arg.replace(/^--port=\d+$/, `--port=${http}`).replace(/^--grpc-port=\d+$/, `--grpc-port=${grpc}`),
  );
  return { args: replaced, http, grpc };
}

/** A model folder as KServe and a model repository hold it: config.json and one weights file. */
function modelFolder(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'weights.pth'])
    fs.copyFileSync(path.join(defaultModelDir(), file), path.join(dir, file));
  return dir;
}

test("the image's command serves a model repository mounted at /mnt/models and exits 0 on SIGTERM", async () => {
  const repository = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-mnt-models-'));
  try {
    modelFolder(repository, 'fashion-mnist');
    const cmd = image.cmd!.map((arg) => arg.replace('/mnt/models', repository));
    const { args, http, grpc } = await onFreePorts(cmd);
    const running = start([...image.entrypoint!.slice(1), ...args]);
    const base = `http://127.0.0.1:${http}`;
    await untilStatus(running, new URL(new URL(image.env.VITORCH_HEALTHCHECK_URL).pathname, base).href, 200);
    expect(await status(`${base}/v2/health/live`)).toBe(200);
    expect(await status(`${base}/v2/models/fashion-mnist/ready`)).toBe(200);
    expect(await connects(grpc)).toBe(true);
    expect(await stop(running)).toBe(0);
  } finally {
    fs.rmSync(repository, { recursive: true, force: true });
  }
});

test("the ServingRuntime's args serve the InferenceService's model from /mnt/models, and its probes pass", async () => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-mnt-'));
  try {
    // KServe puts the storageUri's folder itself at /mnt/models, and {{.Name}} is the InferenceService's name.
    const models = modelFolder(mnt, 'models');
    const name = services.find((s) => s.spec.predictor.model.protocolVersion === 'v2').metadata.name;
    const templated = runtimeContainer.args.map((arg: string) =>
      arg.replace('{{.Name}}', name).replace('/mnt/models', models),
    );
    const { args, http, grpc } = await onFreePorts(templated);
    const running = start([...image.entrypoint!.slice(1), ...args]);
    const at = (probe: Yaml) => `http://127.0.0.1:${http}${probe.httpGet.path}`;
    await untilStatus(running, at(runtimeContainer.readinessProbe), 200);
    expect(await status(at(runtimeContainer.livenessProbe))).toBe(200);
    expect(await status(at(runtimeContainer.startupProbe))).toBe(200);
    expect(await status(`http://127.0.0.1:${http}/v2/models/${name}/ready`)).toBe(200);
    expect(await status(`http://127.0.0.1:${http}${runtime.spec.annotations['prometheus.kserve.io/path']}`)).toBe(200);
    // The gRPC InferenceService's h2c port.
    expect(await connects(grpc)).toBe(true);
    expect(await stop(running)).toBe(0);
  } finally {
    fs.rmSync(mnt, { recursive: true, force: true });
  }
});
