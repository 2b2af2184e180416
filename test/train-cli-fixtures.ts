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

/** Runs the tool unless its manifest is newer than it; returns the manifest. */
export function ensureFixtures(): unknown {
  const manifest = path.join(FIXTURES, 'manifest.json');
  if (!fs.existsSync(manifest) || fs.statSync(manifest).mtimeMs < fs.statSync(TOOL).mtimeMs) {
    const run = spawnSync(findPython(), [TOOL, '--out', FIXTURES], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`tools/make_train_cli_fixtures.py failed:\n${run.stderr}`);
  }
  return JSON.parse(fs.readFileSync(manifest, 'utf8'));
}
