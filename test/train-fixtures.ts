// Access to the PyTorch reference of the training tests (tools/make_training_fixtures.py, run by npm test).
import * as fs from 'fs';
import * as path from 'path';
import { tensor, Tensor, VisionTransformer, VisionTransformerOptions } from '../lib';
import { FIXTURES } from './fixtures';

export const TRAINING = path.join(FIXTURES, 'training');

interface ArrayRef {
  file: string;
  shape: number[];
}

export interface TrainingManifest {
  config: Required<VisionTransformerOptions>;
  checkpoint: string;
  batch: number;
  steps: number;
  lrFactors: number[];
  labelSmoothing: number;
  parameterNames: string[];
  batches: { images: string; labels: string }[];
  gradients: {
    images: string;
    labels: string;
    loss: number;
    logits: number[];
    labelSmoothing: number;
    parameters: Record<string, ArrayRef>;
    bfloat16Autocast: Record<string, ArrayRef>;
    float64: Record<string, ArrayRef>;
  };
  optimizers: Record<
    string,
    {
      kind: 'sgd' | 'adam' | 'adamw';
      options: {
        lr: number;
        momentum?: number;
        nesterov?: boolean;
        dampening?: number;
        weight_decay: number;
        betas?: [number, number];
        eps?: number;
      };
      groupNames: [string[], string[]] | null;
      noDecayLrScale: number;
      maxGradNorm: number;
      freeze: boolean;
      losses: number[];
      parameters: Record<string, ArrayRef>;
    }
  >;
}

export const training: TrainingManifest = JSON.parse(fs.readFileSync(path.join(TRAINING, 'manifest.json'), 'utf8'));

export function trainingFile(file: string): string {
  return path.join(TRAINING, file);
}

export function readF32(file: string): Float32Array {
  const bytes = fs.readFileSync(trainingFile(file));
  return Float32Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
}

export function readF64(file: string): Float64Array {
  const bytes = fs.readFileSync(trainingFile(file));
  return Float64Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8));
}

export function readI32(file: string): Int32Array {
  const bytes = fs.readFileSync(trainingFile(file));
  return Int32Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
}

/** The reference model with PyTorch's initial weights (dropout off). */
export function initialModel(): VisionTransformer {
  const model = new VisionTransformer(training.config);
  model.loadStateDict(trainingFile(training.checkpoint));
  return model.train();
}

export function batchTensors(index: number): { images: Tensor; labels: Tensor } {
  const { inChans, inputShape } = training.config;
  const b = training.batches[index];
  return {
    images: tensor(readF32(b.images), [training.batch, inChans, inputShape[0], inputShape[1]]),
    labels: tensor(readI32(b.labels), [training.batch]),
  };
}
