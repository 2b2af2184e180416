// Every command that reads a config takes every config the package writes or ships, through the one path from a
// config to a model (lib/classifier.ts): the config.json of a `vitorch train` save folder (training sections and
// all), the embedded model's assets/fashion-mnist/config.json (with its 'training' record) and each examples/*.json.
// Real runs of the CLI: predict, eval, serve, inspect --config, and train from and --resume of what train wrote.
// The commands must also agree with each other: serve's /v1/classify gives predict's answer for the same image.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VisionTransformer } from '../lib';
import { CLI, fixture, makeCliFixtures, ROOT, trainTiny, vitorch } from './cli-fixtures';
import { request } from './server-fixtures';

const ASSETS = path.join(ROOT, 'assets', 'fashion-mnist');

interface Case {
  name: string;
  config: string;
  weights: string;
  accurate: boolean;
  hasVal: boolean;
}
interface PredictJson {
  image: string;
  top: { label: string; index: number; probability: number }[];
}

let work: string;
let runDir: string;
let val: { images: string; labels: string; count: number };
const cases: Case[] = [];
// Each shipped image is one its model classifies correctly (tools/export_default_model.py picks them so).
const images = fs
  .readdirSync(path.join(ASSETS, 'images'))
  .filter((n) => n.endsWith('.png'))
  .sort()
  .slice(0, 3)
  .map((n) => path.join(ASSETS, 'images', n));
const trueLabel = (image: string, classes: string[]) => classes[Number(/-(\d+)\.png$/.exec(image)![1])];

beforeAll(() => {
  const manifest = makeCliFixtures();
  val = {
    images: fixture(manifest.val.images),
    labels: fixture(manifest.val.labels),
    count: manifest.val.count,
  };
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-cli-configs-'));
  runDir = path.join(work, 'run');
  // A tiny model, one short epoch: the config.json and weights `vitorch train` writes.
  trainTiny(runDir, manifest, ['--train.batchSize', '64']);
  cases.push({
    name: "vitorch train's config.json",
    config: path.join(runDir, 'config.json'),
    weights: path.join(runDir, 'best_epoch_weights.pth'),
    accurate: false,
    hasVal: true,
  });
  cases.push({
    name: 'assets/fashion-mnist/config.json',
    config: path.join(ASSETS, 'config.json'),
    weights: path.join(ASSETS, 'weights.pth'),
    accurate: true,
    hasVal: false,
  });
  const assetModel = JSON.stringify(JSON.parse(fs.readFileSync(path.join(ASSETS, 'config.json'), 'utf8')).model);
  for (const name of fs
    .readdirSync(path.join(ROOT, 'examples'))
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const config = path.join(ROOT, 'examples', name);
    const model = JSON.parse(fs.readFileSync(config, 'utf8')).model;
    let weights = path.join(ASSETS, 'weights.pth');
    const accurate = JSON.stringify(model) === assetModel;
    if (!accurate) {
      // An example of another model: weights of its shape (untrained), enough to show the config is taken.
      weights = path.join(work, `${name}.pth`);
      const fresh = new VisionTransformer(model);
      fresh.saveStateDict(weights);
      fresh.dispose();
    }
    // Its data.val may name files of another machine (Debian's dataset-fashion-mnist): eval is given the fixture's.
    cases.push({ name: `examples/${name}`, config, weights, accurate, hasVal: false });
  }
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const classesOf = (config: string): string[] => {
  const raw = JSON.parse(fs.readFileSync(config, 'utf8')).classes;
  return Array.isArray(raw)
    ? raw
    : fs
        .readFileSync(path.resolve(path.dirname(config), raw), 'utf8')
        .trim()
        .split('\n');
};

function forEachCase(body: (c: Case) => void | Promise<void>): () => Promise<void> {
  return async () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      try {
        await body(c);
      } catch (error) {
        (error as Error).message = `${c.name} (${c.config}):\n${(error as Error).message}`;
        throw error;
      }
    }
  };
}

const predictions = new Map<string, PredictJson[]>();

test(
  'vitorch predict',
  forEachCase((c) => {
    const run = vitorch(['predict', '--weights', c.weights, '--config', c.config, '--top', '3', '--json', ...images]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const ours: PredictJson[] = JSON.parse(run.stdout);
    const classes = classesOf(c.config);
    expect(ours.map((p) => p.image)).toEqual(images);
    for (const p of ours) {
      expect(p.top).toHaveLength(3);
      expect(p.top.map((t) => t.label)).toEqual(p.top.map((t) => classes[t.index]));
      if (c.accurate) expect(p.top[0].label).toBe(trueLabel(p.image, classes));
    }
    predictions.set(c.config, ours);
  }),
);

test(
  'vitorch eval',
  forEachCase((c) => {
    const dataFlags = c.hasVal
      ? []
      : ['--data.val.format', 'idx', '--data.val.images', val.images, '--data.val.labels', val.labels];
    const run = vitorch([
      'eval',
      '--weights',
      c.weights,
      '--config',
      c.config,
      '--json',
      '--out',
      path.join(work, 'eval', path.basename(c.config)),
      ...dataFlags,
    ]);
    expect(run.stderr).toMatch(/^vitorch eval: wrote confusion.csv/);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.count).toBe(val.count);
    expect(report.classes).toEqual(classesOf(c.config));
    // The embedded model scores 90% on the whole test set.
    if (c.accurate) expect(report.top1).toBeGreaterThan(0.85);
  }),
);

test(
  'vitorch inspect --config',
  forEachCase((c) => {
    const run = vitorch(['inspect', c.weights, '--config', c.config, '--json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const model = JSON.parse(fs.readFileSync(c.config, 'utf8')).model;
    expect(JSON.parse(run.stdout).fits).toEqual({
      config: c.config,
      classes: model.numClasses,
      inputShape: [model.inChans, ...model.inputShape],
    });
  }),
);

function serve(args: string[]): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--grpc-port', '0', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url && /^vitorch serve: ready: /m.test(stderr)) resolve({ child, url, exited });
    });
    exited.then((code) => reject(new Error(`vitorch serve exited (${code}) before it was ready:\n${stderr}`)));
  });
}

test(
  "vitorch serve: /v1/classify gives predict's answer",
  forEachCase(async (c) => {
    const server = await serve(['--weights', c.weights, '--config', c.config]);
    try {
      const model = JSON.parse(fs.readFileSync(c.config, 'utf8')).model;
      const metadata = (await request(`${server.url}/v2/models/vit`)).json();
      expect(metadata.inputs[0].shape).toEqual([-1, model.inChans, ...model.inputShape]);
      expect(metadata.outputs[0].shape).toEqual([-1, model.numClasses]);
      const expected = predictions.get(c.config)!;
      for (const [i, image] of images.entries()) {
        const answer = await request(`${server.url}/v1/classify?k=3`, {
          body: fs.readFileSync(image),
          headers: { 'content-type': 'image/png' },
        });
        expect(answer.status).toBe(200);
        const top = answer.json().top as PredictJson['top'];
        expect(top.map((t) => t.index)).toEqual(expected[i].top.map((t) => t.index));
        top.forEach((t, j) => expect(Math.abs(t.probability - expected[i].top[j].probability)).toBeLessThan(1e-5));
      }
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  }),
);

test('vitorch train: from the config it wrote, and --resume of its save folder', () => {
  const again = path.join(work, 'again');
  const fromWritten = vitorch([
    'train',
    '--config',
    path.join(runDir, 'config.json'),
    '--save-dir',
    again,
    '--train.epochs',
    '1',
  ]);
  expect(fromWritten.stderr).toMatch(/vitorch train: done, 1 epochs/);
  expect(fromWritten.status).toBe(0);
  // The config it writes back is the one it read.
  expect(JSON.parse(fs.readFileSync(path.join(again, 'config.json'), 'utf8'))).toEqual(
    JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')),
  );
  // Two epochs where one was run: --resume reads DIR/config.json and goes on from epoch 2.
  const resumed = vitorch(['train', '--resume', again, '--train.epochs', '2']);
  expect(resumed.stderr).toMatch(/resuming at epoch 2/);
  expect(resumed.status).toBe(0);
  const curves = fs.readFileSync(path.join(again, 'curves.csv'), 'utf8').trim().split(/\r?\n/);
  expect(curves.map((line) => line.split(',')[0])).toEqual(['epoch', '1', '2']);
});

test('a config with a misspelt section is refused by every command, naming the key', () => {
  const typo = path.join(work, 'typo.json');
  const asset = JSON.parse(fs.readFileSync(path.join(ASSETS, 'config.json'), 'utf8'));
  fs.writeFileSync(typo, JSON.stringify({ ...asset, preproces: asset.preprocess }));
  const weights = path.join(ASSETS, 'weights.pth');
  const message = `${typo}: unknown key 'preproces' in the config; known keys: model, classes, preprocess, data, augment, train, training`;
  for (const [command, args] of [
    ['predict', [images[0]]],
    ['eval', ['--data.val.format', 'idx', '--data.val.images', val.images, '--data.val.labels', val.labels]],
    ['inspect', []],
  ] as [string, string[]][]) {
    const run =
      command === 'inspect'
        ? vitorch(['inspect', weights, '--config', typo])
        : vitorch([command, '--weights', weights, '--config', typo, ...args]);
    expect({ command, status: run.status, stderr: run.stderr }).toEqual({
      command,
      status: 1,
      stderr: `vitorch ${command}: ${message}\n`,
    });
  }
});
