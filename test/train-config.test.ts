// The config every command reads (lib/cli/train-config.ts, one zod schema): every config the package ships or
// `vitorch train` writes, of this version or the last, still reads; what a config leaves out is filled in; each
// mistake is a ConfigError that names the file, the key, what was expected and what was received.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, loadTrainConfig, TrainConfig, trainingData } from '../lib/cli/train-config';
import { CLASSES, TINY_MODEL } from './train-cli-fixtures';

const ROOT = path.join(__dirname, '..');
const MODEL = TINY_MODEL;
// The train section of a config that leaves it out: the article's recipe.
const TRAIN_DEFAULTS = {
  epochs: 200,
  batchSize: 32,
  freezeEpochs: 0,
  freezeBatchSize: 32,
  lr: 1e-2,
  minLr: 1e-4,
  lrScaling: 'batch-size',
  optimizer: {
    kind: 'sgd',
    momentum: 0.9,
    nesterov: true,
    betas: [0.9, 0.999],
    weightDecay: 0,
    decayWeightsOnly: false,
  },
  schedule: { kind: 'quadratic-warmup-cosine', unit: 'epoch', warmup: 0, warmupStartLr: 0 },
  labelSmoothing: 0,
  maxGradNorm: null,
  accumulationSteps: 1,
  autocast: null,
  seed: 0,
  savePeriod: 10,
  prefetch: 2,
  threads: null,
};

let work: string;
let minimal: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-config-'));
  minimal = write('minimal.json', {
    model: MODEL,
    classes: CLASSES,
    data: { train: { format: 'folder', root: 'images' } },
  });
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function write(name: string, config: unknown): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/** The ConfigError loading `file` with `overrides` must give: its type checked, its message returned. */
async function failure(file: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const error = await loadTrainConfig(file, overrides).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).file).toBe(file);
  return (error as Error).message.slice(`${file}: `.length);
}

describe('configs that must keep reading', () => {
  test('examples/fashion-mnist.json', async () => {
    const c = await loadTrainConfig(path.join(ROOT, 'examples', 'fashion-mnist.json'));
    expect(c.train.optimizer).toEqual({
      kind: 'adamw',
      momentum: 0.9,
      nesterov: true,
      betas: [0.9, 0.999],
      weightDecay: 0.05,
      decayWeightsOnly: true,
    });
    expect(c.train.schedule).toEqual({ kind: 'warmup-cosine', unit: 'step', warmup: 1, warmupStartLr: 1e-5 });
    expect(c.data.train).toEqual({
      format: 'idx',
      images: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz',
      labels: '/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz',
    });
  });

  test("the embedded model's config.json: its training record is accepted and left out, it has no data", async () => {
    const file = path.join(ROOT, 'assets', 'fashion-mnist', 'config.json');
    const c = await loadTrainConfig(file);
    expect(c.preprocess).toEqual({ size: [28, 28], channels: 1, mean: [0.286], std: [0.353], resize: 'center-crop' });
    expect(c.classes).toEqual(CLASSES);
    expect(c.data).toEqual({ train: null, val: null });
    expect('training' in c).toBe(false);
    expect(() => trainingData(c, file)).toThrow(ConfigError);
    expect(() => trainingData(c, file)).toThrow(
      `${file}: expected a data source (format 'idx', 'annotations' or 'folder') for data.train, received null`,
    );
  });

  test('a config.json as the previous version wrote it (every key, the rules named after "the seed")', async () => {
    const old = {
      model: MODEL,
      classes: CLASSES,
      data: { train: { format: 'folder', root: '/data/train' }, val: null },
      preprocess: { size: [28, 28], channels: 1, mean: [0.5], std: [0.5], resize: 'center-crop' },
      augment: { horizontalFlip: true, randomResizedCrop: true, cropPadding: 0, autoAugment: false },
      // Every training key at its default, the two rules under their old names.
      train: {
        ...TRAIN_DEFAULTS,
        lrScaling: 'seed',
        schedule: { ...TRAIN_DEFAULTS.schedule, kind: 'seed-step' },
      },
    };
    const c = await loadTrainConfig(write('old.json', old));
    expect(c.train.lrScaling).toBe('batch-size');
    expect(c.train.schedule.kind).toBe('step-decay');
    expect(c.train.schedule).toEqual({ ...old.train.schedule, kind: 'step-decay' });
    expect({ ...c.train, lrScaling: 'seed', schedule: old.train.schedule }).toEqual(old.train);
  });

  test('what `vitorch train` writes (the resolved config) reads back as itself', async () => {
    const c = await loadTrainConfig(minimal);
    const again = await loadTrainConfig(write('written.json', c));
    expect(again).toEqual(c);
    expect(c.data).toEqual({ train: { format: 'folder', root: path.join(work, 'images') }, val: null });
  });
});

describe('defaults', () => {
  test("what a config leaves out: the article's recipe, the preprocessing the model implies", async () => {
    const c: TrainConfig = await loadTrainConfig(minimal);
    expect(c.preprocess).toEqual({ size: [28, 28], channels: 1, mean: [0.5], std: [0.5], resize: 'center-crop' });
    expect(c.augment).toEqual({ horizontalFlip: true, randomResizedCrop: true, cropPadding: 0, autoAugment: false });
    expect(c.train).toEqual(TRAIN_DEFAULTS);
  });

  test("lr and weight decay follow the optimizer's kind; minLr follows lr (train.py:151); given values win", async () => {
    const adam = await loadTrainConfig(minimal, { 'train.optimizer.kind': 'adam' });
    expect([adam.train.lr, adam.train.minLr, adam.train.optimizer.weightDecay]).toEqual([1e-3, 1e-5, 5e-4]);
    const adamw = await loadTrainConfig(minimal, { 'train.optimizer.kind': 'adamw', 'train.lr': 2e-3 });
    expect([adamw.train.lr, adamw.train.minLr, adamw.train.optimizer.weightDecay]).toEqual([2e-3, 2e-5, 0.05]);
    const given = await loadTrainConfig(minimal, {
      'train.optimizer': { kind: 'adam', weightDecay: 0 },
      'train.minLr': 0,
    });
    expect([given.train.lr, given.train.minLr, given.train.optimizer.weightDecay]).toEqual([1e-3, 0, 0]);
  });

  test("a 3-channel model gets ImageNet's normalisation at its input size", async () => {
    const c = await loadTrainConfig(
      write('rgb.json', { model: { ...MODEL, inChans: 3, inputShape: [32, 48] }, classes: CLASSES }),
    );
    expect(c.preprocess).toEqual({
      size: [32, 48],
      channels: 3,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      resize: 'center-crop',
    });
  });
});

describe('each mistake is a ConfigError naming the key, what was expected and what was received', () => {
  test.each([
    [
      { 'train.foo': 1 },
      "unknown key 'train.foo'; known keys: epochs, batchSize, freezeEpochs, freezeBatchSize, lr, minLr, " +
        'lrScaling, optimizer, schedule, labelSmoothing, maxGradNorm, accumulationSteps, autocast, seed, savePeriod, prefetch, threads',
    ],
    [{ foo: 1 }, "unknown key 'foo'; known keys: model, classes, data, preprocess, augment, train, training"],
    [{ 'data.train.bar': 1 }, "unknown key 'data.train.bar'; known keys: format, root"],
    [{ 'train.epochs': 0 }, 'expected a positive integer for train.epochs, received number 0'],
    [{ 'train.epochs': '5' }, "expected a positive integer for train.epochs, received the string '5'"],
    [{ 'train.batchSize': 2.5 }, 'expected a positive integer for train.batchSize, received number 2.5'],
    [{ 'train.lr': 0 }, 'expected a positive number for train.lr, received number 0'],
    [{ 'train.minLr': 1 }, 'expected a number in [0, lr = 0.01] for train.minLr, received number 1'],
    [{ 'train.freezeEpochs': 300 }, 'expected an integer in [0, 200] for train.freezeEpochs, received number 300'],
    [
      { 'train.lrScaling': 'linear' },
      "expected 'batch-size' or 'none' for train.lrScaling, received the string 'linear'",
    ],
    [
      { 'train.optimizer.kind': 'rmsprop' },
      "expected 'sgd', 'adam' or 'adamw' for train.optimizer.kind, received the string 'rmsprop'",
    ],
    [
      { 'train.optimizer.betas': [0.9, 1] },
      'expected a number in [0, 1) for train.optimizer.betas[1], received number 1',
    ],
    [{ 'train.optimizer.betas': 0.9 }, 'expected [beta1, beta2] for train.optimizer.betas, received number 0.9'],
    [
      { 'train.optimizer.weightDecay': -1 },
      'expected a non-negative number for train.optimizer.weightDecay, received number -1',
    ],
    [
      { 'train.schedule.kind': 'cos' },
      "expected 'quadratic-warmup-cosine', 'step-decay', 'warmup-cosine' or 'constant' for " +
        "train.schedule.kind, received the string 'cos'",
    ],
    [
      { 'train.autocast': 'fp16' },
      "expected null, 'bfloat16' or 'float16' for train.autocast, received the string 'fp16'",
    ],
    [{ 'train.maxGradNorm': 0 }, 'expected null or a positive number for train.maxGradNorm, received number 0'],
    [{ 'train.labelSmoothing': 2 }, 'expected a number in [0, 1] for train.labelSmoothing, received number 2'],
    [{ 'augment.cropPadding': 2000 }, 'expected an integer in [0, 1024] for augment.cropPadding, received number 2000'],
    [
      { 'augment.horizontalFlip': 'yes' },
      "expected true or false for augment.horizontalFlip, received the string 'yes'",
    ],
    [{ 'preprocess.channels': 3 }, "expected the model's inChans (1) for preprocess.channels, received number 3"],
    [{ 'preprocess.channels': 2 }, 'expected 1 or 3 for preprocess.channels, received number 2'],
    [{ 'preprocess.std': [0] }, 'expected one number > 0 for preprocess.std, received [0]'],
    [
      { 'preprocess.resize': 'fit' },
      "expected 'center-crop' or 'letterbox' for preprocess.resize, received the string 'fit'",
    ],
    [
      { 'data.train.format': 'csv' },
      "expected format 'idx', 'annotations' or 'folder' for data.train.format, received the string 'csv'",
    ],
    [{ 'data.train.root': '' }, "expected a path for data.train.root, received the string ''"],
    [{ data: 3 }, 'expected an object for data, received number 3'],
    [{ model: 3 }, 'expected an object of VisionTransformer options for model, received number 3'],
    [{ classes: [] }, 'expected a class list file or an array of class names for classes, received []'],
    [{ 'model.numClasses': 3 }, 'expected 3 class names (model.numClasses), received 10'],
  ])('%j', async (overrides, message) => {
    expect(await failure(minimal, overrides)).toBe(message);
  });

  test('a file that is not there, or not JSON', async () => {
    expect(await failure(path.join(work, 'none.json'))).toBe('no such file');
    expect(await failure(write('array.json', []))).toBe('expected a JSON object');
    fs.writeFileSync(path.join(work, 'bad.json'), '{');
    expect(await failure(path.join(work, 'bad.json'))).toMatch(/^not valid JSON: /);
  });
});
