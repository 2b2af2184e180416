// The best offline batched throughput of vitorch, the serving benchmark's yardstick: the same model, weights and
// thread count, called directly (no HTTP, no queue) at several batch sizes, each in a fresh process through
// bench/inference-node.ts; the best images/s over the batch sizes is what a server could reach at most.
import { spawnSync } from 'child_process';
import * as path from 'path';
import type { NodeContestant } from './node-contestants';
import { median } from './stats';

const nodeContestantScript = path.join(__dirname, 'inference-node.js');

/** The precisions the serving benchmarks run vitorch in, and the bench/inference-node.ts contestant that runs the
 *  same model offline in each (forwardAsync, as the server calls it, except bfloat16's forward). */
export type ServedPrecision = 'float32' | 'bfloat16' | 'int8';
export const SERVED_PRECISIONS: readonly ServedPrecision[] = ['float32', 'bfloat16', 'int8'];
const OFFLINE_CONTESTANT: Record<ServedPrecision, NodeContestant> = {
  float32: 'vitorch-async',
  bfloat16: 'vitorch-bf16',
  int8: 'vitorch-int8',
};
/** The short name of a precision in table rows: fp32, bf16, int8. */
export const SHORT_NAME: Record<ServedPrecision, string> = { float32: 'fp32', bfloat16: 'bf16', int8: 'int8' };

export interface OfflinePoint {
  batch: number;
  imagesPerSecond: number;
  seconds: number[];
}
export interface OfflineSweep {
  dtype: ServedPrecision;
  points: OfflinePoint[];
  best: OfflinePoint;
}

export interface OfflineOptions {
  dtype: ServedPrecision;
  weights: string;
  threads: number;
  batches: number[];
  /** model_data/bench-input-b{B}.f32 for each batch size (bench-inputs.ts writeInputs). */
  inputs: Map<number, string>;
  /** Where batch 1's logits go, to check the servers' answers against. */
  saveBatch1Logits?: string;
}

// Enough iterations for a stable median where a call is short; batch 16 takes ~3 s in float32 on 2 threads.
const repsFor = (batch: number) => (batch <= 2 ? 6 : batch <= 4 ? 4 : 3);

export function measureOffline(options: OfflineOptions): OfflineSweep {
  const points: OfflinePoint[] = [];
  for (const batch of options.batches) {
    const args = [
      nodeContestantScript,
      '--contestant',
      OFFLINE_CONTESTANT[options.dtype],
      '--weights',
      options.weights,
      '--batch',
      String(batch),
      '--threads',
      String(options.threads),
      '--warmup',
      '1',
      '--reps',
      String(repsFor(batch)),
      '--input',
      options.inputs.get(batch) as string,
      ...(batch === 1 && options.saveBatch1Logits ? ['--save-output', options.saveBatch1Logits] : []),
    ];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 10 * 60 * 1000 });
    const line = run.stdout?.trim().split('\n').pop();
    if (run.status !== 0 || !line)
      throw new Error(`offline ${options.dtype} batch ${batch} failed:\n${(run.stderr ?? '').slice(-2000)}`);
    const { seconds } = JSON.parse(line) as { seconds: number[] };
    points.push({ batch, imagesPerSecond: batch / median(seconds), seconds });
  }
  const best = points.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
  return { dtype: options.dtype, points, best };
}
