// Access to the golden files tools/make_fixtures.py writes (npm test runs it first): PyTorch's outputs for the
// seed model, its checkpoints, and deliberately broken checkpoints.
import * as fs from 'fs';
import * as path from 'path';
import { tensor, Tensor, VisionTransformerOptions } from '../lib';

export const FIXTURES = path.join(__dirname, 'fixtures', 'generated');

export interface ModelFixture {
  checkpoint: string;
  config: Required<
    Pick<
      VisionTransformerOptions,
      | 'inputShape'
      | 'patchSize'
      | 'inChans'
      | 'numClasses'
      | 'numFeatures'
      | 'depth'
      | 'numHeads'
      | 'mlpRatio'
      | 'qkvBias'
    >
  >;
  parameterNames: string[];
  parameterShapes: number[][];
}

export interface CaseFixture {
  name: string;
  model: string;
  input: string;
  inputShape: number[];
  output: string;
  outputShape: number[];
}

interface BadCheckpoint {
  file: string;
  model: string;
  [key: string]: unknown;
}

export interface Manifest {
  torch: string;
  models: Record<string, ModelFixture>;
  cases: CaseFixture[];
  freeze: { model: string; trainableAfterFreeze: string[]; trainableAfterUnfreeze: string[] };
  vitFactory: {
    model: string;
    checkpoint: string;
    inputShape: [number, number];
    numClasses: number;
    headWeightShape: number[];
    headBiasShape: number[];
    input: string;
    imagesShape: number[];
    features: string;
    featuresShape: number[];
  };
  badCheckpoints: {
    missingKey: BadCheckpoint & { missing: string[] };
    unexpectedKey: BadCheckpoint & { unexpected: string[] };
    shapeMismatch: BadCheckpoint & { key: string; expectedShape: number[]; checkpointShape: number[] };
    allWrong: BadCheckpoint & {
      missing: string[];
      unexpected: string[];
      shapeMismatch: { key: string; expectedShape: number[]; checkpointShape: number[] }[];
    };
    hostileGlobal: BadCheckpoint & { global: string; marker: string };
    legacyFormat: BadCheckpoint;
    notACheckpoint: BadCheckpoint;
    truncated: BadCheckpoint;
  };
}

export const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8'));

export function fixturePath(file: string): string {
  return path.join(FIXTURES, file);
}

export function readFloat32(file: string, shape: number[]): Float32Array {
  const bytes = fs.readFileSync(fixturePath(file));
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const expectedLength = shape.reduce((a, b) => a * b, 1);
  if (values.length !== expectedLength)
    throw new Error(`${file}: ${values.length} floats, shape wants ${expectedLength}`);
  return Float32Array.from(values);
}

export function readTensor(file: string, shape: number[]): Tensor {
  return tensor(readFloat32(file, shape), shape);
}

/** max |actual - expected| relative to the expected output's scale (its largest magnitude, at least 1e-12). */
/** The index of the largest value in each row of a row-major [rows, columns] array. */
export function argmaxPerRow(values: Float32Array, columns: number): number[] {
  const result: number[] = [];
  for (let row = 0; row * columns < values.length; row++) {
    let best = 0;
    for (let c = 1; c < columns; c++) if (values[row * columns + c] > values[row * columns + best]) best = c;
    result.push(best);
  }
  return result;
}

/** The cosine of the angle between two vectors: how closely one's values point the way the other's do, whatever
 *  their scale. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

export function relativeMaxError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxError = 0;
  let scale = 1e-12;
  for (let i = 0; i < expected.length; i++) {
    maxError = Math.max(maxError, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return maxError / scale;
}

/** relativeMaxError of `actual` against the float32 fixture `file` of `shape`. */
export function errorAgainst(actual: Tensor, file: string, shape: number[]): number {
  return relativeMaxError(actual.toFloat32Array(), readFloat32(file, shape));
}

/** The tolerance the parity tests hold vitorch to: max abs error <= 1e-4 of the output's scale (fp32). */
export const PARITY_TOLERANCE = 1e-4;
