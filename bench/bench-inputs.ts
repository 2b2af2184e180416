// What the ViT-B/16 benchmarks share as input: the checkpoint (seeded random weights unless a real one is there),
// the Python interpreter that writes it, and seeded images written as raw float32 files.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const root = path.join(__dirname, '..', '..');
/** The article's weights file; speed does not depend on the weights' values, so a seeded random one stands in. */
export const checkpoint = path.join(root, 'model_data', 'vit-patch_16.pth');
export const IMAGE_SHAPE = [3, 224, 224];
export const IMAGE_VALUES = 3 * 224 * 224;
const INPUT_SEED = 224;

export function findPython(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- scripts/ is plain CommonJS, outside the TypeScript project
  const { findPython: find } = require(path.join(root, 'scripts', 'python.js')) as { findPython(): string | null };
  const python = find();
  if (!python) throw new Error('no Python 3 found (tried $PYTHON, python3, python); see tools/requirements.txt');
  return python;
}

/** Runs one of tools/'s scripts (they import each other, so from that folder). */
export function runSetupStep(python: string, args: string[], what: string): void {
  const run = spawnSync(python, args, { cwd: path.join(root, 'tools'), stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`could not ${what}`);
}

/** Writes model_data/vit-patch_16.pth with seeded random weights (tools/make_demo_checkpoint.py) unless it exists. */
export function ensureCheckpoint(python: string): string {
  if (!fs.existsSync(checkpoint))
    runSetupStep(python, ['make_demo_checkpoint.py', checkpoint], 'write the benchmark checkpoint');
  return checkpoint;
}

/** Standard normal values from a fixed seed (xorshift32 + Box-Muller), so every run and every contestant sees the
 *  same images, and batch B's images start with batch 1's. */
export function normalImages(count: number): Float32Array {
  return seededNormals(count, INPUT_SEED);
}

/** `count` standard normal values from `seed` (xorshift32 + Box-Muller): the same values on every run. */
export function seededNormals(count: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1; // xorshift32 stays at 0 from 0
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296; // never 0: xorshift32 never reaches state 0
  };
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}

/** model_data/bench-input-b{B}.f32 for every batch size B: the first B of the same seeded images. */
export function writeInputs(batches: number[]): Map<number, string> {
  const files = new Map<number, string>();
  const largest = normalImages(Math.max(...batches) * IMAGE_VALUES);
  for (const batch of batches) {
    const file = path.join(root, 'model_data', `bench-input-b${batch}.f32`);
    const images = largest.subarray(0, batch * IMAGE_VALUES);
    fs.writeFileSync(file, new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
    files.set(batch, file);
  }
  return files;
}
