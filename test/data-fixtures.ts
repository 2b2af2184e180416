// The data tests' reference files, made by tools/make_data_fixtures.py (numpy, PIL, torchvision) and
// tools/make_autoaugment_fixtures.py (PIL). Made here when missing or older than the tool, so `npx jest test/data-`
// works without `npm run fixtures` first.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { python, tool as toolPath } from './python';

export const DATA_FIXTURES = path.join(__dirname, 'fixtures', 'generated', 'data');
export const FASHION = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

export interface ImageCase {
  name: string;
  source: string;
  size: [number, number];
  resize: 'center-crop' | 'letterbox';
  channels: 1 | 3;
  exact: boolean;
  expected: string;
  shape: number[];
}
export interface DataManifest {
  idx: Record<
    string,
    { path: string; dims: number[]; sha256: string; sum: number; first: number[]; last: number[]; counts?: number[] }
  >;
  uncompressedLabels: string;
  normalised: { file: string; count: number; mean: number; std: number };
  padded: { file: string; count: number; padding: number };
  images: ImageCase[];
  rrc: {
    width: number;
    height: number;
    samples: number;
    area: { mean: number; std: number };
    logRatio: { mean: number; std: number };
    topFraction: { mean: number; std: number };
    leftFraction: { mean: number; std: number };
    fallback: { width: number; height: number; box: { top: number; left: number; width: number; height: number } }[];
  };
}

/** Runs `tool` (a tools/*.py generator) into `dir` unless its manifest.json is newer than the tool. */
export function ensureGenerated(tool: string, dir: string): void {
  const manifest = path.join(dir, 'manifest.json');
  const script = toolPath(tool);
  if (fs.existsSync(manifest) && fs.statSync(manifest).mtimeMs >= fs.statSync(script).mtimeMs) return;
  const run = spawnSync(python(), [script, '--out', dir], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`tools/${tool} failed:\n${run.stderr}`);
}

export function dataManifest(): DataManifest {
  ensureGenerated('make_data_fixtures.py', DATA_FIXTURES);
  return JSON.parse(fs.readFileSync(path.join(DATA_FIXTURES, 'manifest.json'), 'utf8')) as DataManifest;
}

export function fixture(file: string): string {
  return path.join(DATA_FIXTURES, file);
}

export function readF32(file: string): Float32Array {
  const bytes = fs.readFileSync(fixture(file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vitorch-${prefix}-`));
}
