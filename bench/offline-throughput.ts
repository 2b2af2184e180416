// The best offline batched throughput of vitorch, the serving benchmark's yardstick: the same model, weights and
// thread count, called directly (no HTTP, no queue) at several batch sizes, each in a fresh process through
// bench/inference-node.ts; the best images/s over the batch sizes is what a server could reach at most.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { median } from './stats';

const nodeContestantScript = path.join(__dirname, 'inference-node.js');

export interface OfflinePoint {
  batch: number;
  imagesPerSecond: number;
  seconds: number[];
}
export interface OfflineSweep {
  dtype: 'float32' | 'bfloat16';
  points: OfflinePoint[];
  best: OfflinePoint;
}

export interface OfflineOptions {
  dtype: 'float32' | 'bfloat16';
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
      options.dtype === 'float32' ? 'vitorch-async' : 'vitorch-bf16',
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
