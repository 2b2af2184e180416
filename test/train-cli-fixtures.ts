// The data of the `vitorch train` tests (tools/make_train_cli_fixtures.py: Fashion-MNIST subsets, broken files, a
// PyTorch reference for gradient accumulation), made on first use or when the tool changed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { python as findPython } from './python';

export const ROOT = path.join(__dirname, '..');
export const FIXTURES = path.join(__dirname, 'fixtures', 'generated', 'train-cli');
export const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'vitorch.js');
const TOOL = path.join(ROOT, 'tools', 'make_train_cli_fixtures.py');

/** Fashion-MNIST's ten class names, in label order. */
export const CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** The small ViT of the training tests (28x28 grey images, 10 classes, one block), at its default mlpRatio. */
export const TINY_VIT = {
  inputShape: [28, 28] as [number, number],
  patchSize: 4,
  inChans: 1,
  numClasses: 10,
  numFeatures: 16,
  depth: 1,
  numHeads: 2,
};

/** TINY_VIT with mlpRatio 2: the `model` of the training configs. */
export const TINY_MODEL = { ...TINY_VIT, mlpRatio: 2 };

/** The `data.train` and `data.val` entries of a config: the fixtures' IDX files. */
export const IDX_TRAIN = {
  format: 'idx',
  images: path.join(FIXTURES, 'train-images-idx3-ubyte'),
  labels: path.join(FIXTURES, 'train-labels-idx1-ubyte'),
};
export const IDX_VAL = {
  format: 'idx',
  images: path.join(FIXTURES, 'val-images-idx3-ubyte'),
  labels: path.join(FIXTURES, 'val-labels-idx1-ubyte'),
};

/** The `preprocess` of the training configs (Fashion-MNIST's mean and std). */
export const PREPROCESS = { size: [28, 28], channels: 1, mean: [0.286], std: [0.353] };

/** Runs the tool unless its manifest is newer than it; returns the manifest. */
export function ensureFixtures(): unknown {
  const manifest = path.join(FIXTURES, 'manifest.json');
  if (!fs.existsSync(manifest) || fs.statSync(manifest).mtimeMs < fs.statSync(TOOL).mtimeMs) {
    const run = spawnSync(findPython(), [TOOL, '--out', FIXTURES], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`tools/make_train_cli_fixtures.py failed:\n${run.stderr}`);
  }
  return JSON.parse(fs.readFileSync(manifest, 'utf8'));
}
