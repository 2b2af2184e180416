import type { Dataset } from '../lib/data/dataset';
// The data-parallel jobs of the distributed tests: a tiny model and its seeded inputs written to files, a job file
// (the format tools/ddp_reference.py documents), its ranks run as child processes (vitorch: test/distributed-rank.js;
// PyTorch: ddp_reference.py worker) on a free loopback port or under torchrun, and what they write read back.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tensor, VisionTransformer, VisionTransformerOptions } from '../lib';
import { python, tool, TOOLS } from './python';
import { mulberry32, seededNormals } from './random';
import { freePort } from '../lib/cli/train-launcher';
export { freePort };

// The data-parallel tests' bounds against the single-process PyTorch reference: per parameter, max |difference| over
// the reference's largest magnitude, and each global batch's mean loss, relative. Measured on x86-64 (two processes
// of one thread, libtorch and PyTorch 2.15): weights at most 3.3e-7 for SGD and 3.7e-7 for Adam, losses 1.7e-7; the
// bounds leave a margin for other CPUs' kernels. A rank that trained on its own batches alone (no averaging) ends
// 0.24 away in the sgd job, one that missed its last step 0.087 away.
export const WEIGHT_TOLERANCE = 1e-5;
export const LOSS_TOLERANCE = 1e-6;

/** 8x8 single-channel images in 2x2 patches of 4: a step takes milliseconds. Dropout off: steps are deterministic. */
export const CONFIG: Required<VisionTransformerOptions> = {
  inputShape: [8, 8],
  patchSize: 4,
  inChans: 1,
  numClasses: 5,
  numFeatures: 16,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  qkvBias: true,
  dropRate: 0,
  attnDropRate: 0,
  dropPathRate: 0,
};
export const PIXELS = CONFIG.inChans * CONFIG.inputShape[0] * CONFIG.inputShape[1];

export type OptimizerSpec =
  | { kind: 'sgd'; lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number }
  | {
      kind: 'adam' | 'adamw';
      lr: number;
      betas: [number, number];
      eps: number;
      weightDecay: number;
      /** ATen's fused kernel (vitorch's default) or the for-loop step (torch.optim's default on the CPU). */
      fused: boolean;
    };

export interface BatchFiles {
  images: string;
  labels: string;
  count: number;
}

export interface Job {
  config: Required<VisionTransformerOptions>;
  worldSize: number;
  initialWeights: string[];
  optimizer: OptimizerSpec;
  accumulationSteps: number;
  steps: { lr: number; update: boolean; frozen: boolean; batches: BatchFiles[] }[];
  validation?: BatchFiles & { batchSize: number; topk: number };
  timeoutMs: number;
  /** vitorch ranks run Trainer.fit() over shards of `train` instead of the steps (test/distributed-rank.js). */
  fit?: {
    train: BatchFiles;
    batchSize: number;
    epochs: number;
    seed: number;
    lr: number;
    stopAt?: { rank: number; epoch: number; step: number };
  };
}

export interface StepFigures {
  loss: number;
  correct: number;
  count: number;
  global?: { loss: number; correct: number; count: number };
  stop?: boolean;
}

export interface EvaluationRecord {
  loss: number;
  top1: number;
  topk: number;
  count: number;
  predictions: number[];
  labels: number[];
  /** vitorch ranks: the dataset indices of their shard, in order. */
  shard?: number[];
  /** The single-process reference: the logits of the whole validation set, row-major. */
  logits?: number[];
}

/** What a rank (or the reference) wrote: its figures and its final parameters by name. */
export interface RunOutput {
  steps: StepFigures[];
  /** A fit job's events, as fit() yielded them (evaluation arrays as plain arrays). */
  events?: Record<string, unknown>[];
  evaluation?: EvaluationRecord;
  parameters: Map<string, Float32Array>;
  error?: { name: string; message: string; distributed: boolean };
}

/** Writes images and labels to DIR/NAME.f32 and DIR/NAME.i32. */
export function writeSamples(dir: string, name: string, images: Float32Array, labels: Int32Array): BatchFiles {
  const files = { images: path.join(dir, `${name}.f32`), labels: path.join(dir, `${name}.i32`), count: labels.length };
  fs.writeFileSync(files.images, Buffer.from(images.buffer, images.byteOffset, images.byteLength));
  fs.writeFileSync(files.labels, Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength));
  return files;
}

/** Writes `count` seeded images and labels to DIR/NAME.f32 and DIR/NAME.i32. */
export function writeBatch(dir: string, name: string, count: number, seed: number): BatchFiles {
  const uniform = mulberry32(seed + 1_000_003);
  const labels = Int32Array.from({ length: count }, () => Math.floor(uniform() * CONFIG.numClasses));
  return writeSamples(dir, name, seededNormals(seed, count * PIXELS), labels);
}

/** The images and labels that BatchFiles name. */
export function readSamples(files: BatchFiles): { images: Float32Array; labels: Int32Array } {
  const images = fs.readFileSync(files.images);
  const labels = fs.readFileSync(files.labels);
  return {
    images: Float32Array.from(new Float32Array(images.buffer, images.byteOffset, images.byteLength / 4)),
    labels: Int32Array.from(new Int32Array(labels.buffer, labels.byteOffset, labels.byteLength / 4)),
  };
}

/**
 * Seeded weights of CONFIG's model saved to FILE (.pth), far from a fresh model's (whose LayerNorms are exactly 1
 * and 0, and whose class token and position table are zero), so that every parameter shapes the loss: matrices
 * N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm weights 1 + N(0, 0.2^2), class token and position table N(0, 0.5^2).
 */
export function writeInitialWeights(file: string, seed: number): void {
  const model = new VisionTransformer(CONFIG);
  const weights = new Map(
    model.namedParameters().map(([name, parameter], index) => {
      const shape = parameter.shape;
      const size = shape.reduce((a, b) => a * b, 1);
      const draws = seededNormals(seed * 1000 + index, size);
      const isNorm = /norm\d?\.(weight|bias)$/.test(name);
      let values: Float32Array;
      if (name === 'cls_token' || name === 'pos_embed') values = draws.map((x) => 0.5 * x);
      else if (isNorm && name.endsWith('weight')) values = draws.map((x) => 1 + 0.2 * x);
      else if (isNorm || name.endsWith('bias')) values = draws.map((x) => (isNorm ? 0.2 : 0.1) * x);
      else values = draws.map((x) => x / Math.sqrt(size / shape[0]));
      return [name, tensor(values, shape)] as const;
    }),
  );
  model.loadStateDict(weights);
  model.saveStateDict(file);
  for (const t of weights.values()) t.dispose();
  model.dispose();
}

/** A port nothing listens on now (the system's choice for a listener on port 0). */
export type RankKind = 'vitorch' | 'pytorch';

export const RANK_SCRIPT = path.join(__dirname, 'distributed-rank.js');

// One thread per rank: two ranks on two cores, and the same reduction order every run.
const RANK_ENV = { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

/** Starts rank `rank` of the job in JOBFILE as a child process writing OUT.json and OUT.f32. */
export function startRank(kind: RankKind, jobFile: string, rank: number, port: number, out: string): ChildProcess {
  const [command, args] =
    kind === 'vitorch'
      ? [process.execPath, [RANK_SCRIPT, jobFile, String(rank), String(port), out]]
      : [
          python(),
          [tool('ddp_reference.py'), 'worker', jobFile, '--rank', String(rank), '--port', String(port), '--out', out],
        ];
  return spawn(command, args, { cwd: TOOLS, env: RANK_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Resolves when the child exits, with what it printed; kills it (and fails) past `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`a rank ran past ${timeoutMs} ms (a hang); it printed:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Reads OUT.json and OUT.f32 as a rank or the reference wrote them. */
export function readOutput(out: string): RunOutput {
  const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
  const parameters = new Map<string, Float32Array>();
  if (record.parameters) {
    const bytes = fs.readFileSync(`${out}.f32`);
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    let offset = 0;
    for (const { name, shape } of record.parameters as { name: string; shape: number[] }[]) {
      const size = shape.reduce((a, b) => a * b, 1);
      parameters.set(name, Float32Array.from(all.subarray(offset, offset + size)));
      offset += size;
    }
    if (offset !== all.length) throw new Error(`${out}.f32 holds ${all.length} floats, the parameters ${offset}`);
  }
  return { steps: record.steps, events: record.events, evaluation: record.evaluation, parameters, error: record.error };
}

export function writeJob(file: string, job: Job): string {
  fs.writeFileSync(file, JSON.stringify(job, null, 1));
  return file;
}

/** Runs every rank of the job in JOBFILE, rank r as kinds[r]; each must exit 0. Returns their outputs, rank order. */
export async function runJob(jobFile: string, kinds: RankKind[], timeoutMs = 60_000): Promise<RunOutput[]> {
  const port = await freePort();
  const outs = kinds.map((_, rank) => `${jobFile.replace(/\.json$/, '')}-${kinds.join('-')}-rank${rank}`);
  const children = kinds.map((kind, rank) => startRank(kind, jobFile, rank, port, outs[rank]));
  const exits = await Promise.all(children.map((child) => exitOf(child, timeoutMs)));
  exits.forEach((exit, rank) => {
    if (exit.code !== 0) throw new Error(`rank ${rank} (${kinds[rank]}) exited with ${exit.code}:\n${exit.stderr}`);
  });
  return outs.map(readOutput);
}

/** A command line's words for sh, each quoted. */
function shellWords(words: string[]): string {
  return words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
}

/**
 * Runs the job under torchrun (`python -m torch.distributed.run --standalone`, its agent hosting the rendezvous
 * store, TORCHELASTIC_USE_AGENT_STORE=True), rank r as kinds[r], every rank reading its rank and the store's address
 * from torchrun's environment. Returns their outputs in rank order.
 */
export async function runUnderTorchrun(jobFile: string, kinds: RankKind[], timeoutMs = 60_000): Promise<RunOutput[]> {
  const out = `${jobFile.replace(/\.json$/, '')}-torchrun-${kinds.join('-')}-rank{rank}`;
  const commands = kinds.map((kind) =>
    kind === 'vitorch'
      ? shellWords([process.execPath, RANK_SCRIPT, jobFile, '-', '-', out])
      : shellWords([python(), tool('ddp_reference.py'), 'worker', jobFile, '--out', out]),
  );
  // torchrun starts one program for every rank: a shell that becomes the rank's own.
  const dispatch = `case "$RANK" in ${commands.map((c, r) => `${r}) exec ${c};;`).join(' ')} esac; exit 3`;
  const launcher = spawn(
    python(),
    [
      '-m',
      'torch.distributed.run',
      '--standalone',
      `--nproc-per-node=${kinds.length}`,
      '--no-python',
      'sh',
      '-c',
      dispatch,
    ],
    { cwd: TOOLS, env: RANK_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exit = await exitOf(launcher, timeoutMs);
  if (exit.code !== 0) throw new Error(`torchrun exited with ${exit.code}:\n${exit.stderr}`);
  return kinds.map((_, rank) => readOutput(out.replace('{rank}', String(rank))));
}

/** tools/ddp_reference.py single over the jobs: one process on the global batches; the outputs in job order. */
export function singleProcessReferences(jobFiles: string[]): RunOutput[] {
  const outs = jobFiles.map((file) => `${file.replace(/\.json$/, '')}-single`);
  const run = spawnSync(python(), [tool('ddp_reference.py'), 'single', ...jobFiles.flatMap((f, i) => [f, outs[i]])], {
    cwd: TOOLS,
    env: RANK_ENV,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`ddp_reference.py single failed:\n${run.stderr}`);
  return outs.map(readOutput);
}

/** max |actual - reference| over the reference's largest magnitude (at least 1e-12). */
export function relativeError(actual: Float32Array, reference: Float32Array): number {
  if (actual.length !== reference.length) throw new Error(`length ${actual.length} vs ${reference.length}`);
  let error = 0;
  let scale = 1e-12;
  for (let i = 0; i < reference.length; i++) {
    error = Math.max(error, Math.abs(actual[i] - reference[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  return error / scale;
}

/** Each parameter's relativeError against the reference's parameter of the same name, worst first. */
export function parameterErrors(actual: RunOutput, reference: RunOutput): [string, number][] {
  expect([...actual.parameters.keys()]).toEqual([...reference.parameters.keys()]);
  return [...reference.parameters]
    .map(([name, values]) => [name, relativeError(actual.parameters.get(name)!, values)] as [string, number])
    .sort((a, b) => b[1] - a[1]);
}

/** N one-pixel samples whose pixel and label are their own index: a batch's contents name its samples. */
export function indexDataset(n: number): Dataset {
  return {
    length: n,
    sampleShape: [1, 1, 1],
    labelOf: (index) => index,
    labels: () => Int32Array.from({ length: n }, (_, i) => i),
    load: async (indices) => ({ images: Float32Array.from(indices), labels: Int32Array.from(indices) }),
  };
}
