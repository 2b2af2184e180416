// ViT-B/16 inference on CUDA: vitorch against PyTorch eager at its best (bench/gpu_inference_torch.py), side by
// side in one run, with the same weights and images, in float32, bfloat16 and float16. Each contestant runs in a
// fresh process per precision, timing every batch size; the logits are compared too, so that a fast wrong answer
// cannot pass. Prints a table of images/s and vitorch / PyTorch ratios (medians of the reps). bench/gpu.sh runs it.
//
//   npm run build:ts && node dist/bench/gpu-inference.js [--batches 1,8,32] [--reps 20] [--dtypes float32,bfloat16,float16]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { choiceListFlag, integerFlag, integerListFlag, parseArgs, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
const IMAGE_VALUES = 3 * 224 * 224;
const DTYPES = ['float32', 'bfloat16', 'float16'] as const;
type BenchDType = (typeof DTYPES)[number];
// Logits of the two contestants agree within this fraction of their scale (float32 on CUDA uses TF32 convolutions;
// bfloat16 keeps 8 significant bits, float16 11): a looser bound than the tests', for ViT-B/16's 12 blocks.
const AGREEMENT: Record<BenchDType, number> = { float32: 1e-2, bfloat16: 1e-1, float16: 2e-2 };

interface Options {
  batches: number[];
  reps: number;
  dtypes: BenchDType[];
}
interface ContestantResult {
  device?: string;
  results: { batch: number; seconds: number[] }[];
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(argv, ['batches', 'reps', 'dtypes'], [], { overrides: false, positionals: false });
  return {
    batches: integerListFlag(parsed, 'batches') ?? [1, 8, 32],
    reps: integerFlag(parsed, 'reps') ?? 20,
    dtypes: choiceListFlag(parsed, 'dtypes', DTYPES) ?? [...DTYPES],
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function readFloats(file: string): Float32Array {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** The vitorch contestant, in its own process: `--contestant vitorch WEIGHTS IMAGES DTYPE BATCHES REPS OUT`. */
async function runVitorchContestant([weights, images, dtype, batches, reps, out]: string[]): Promise<void> {
  const { tensor, vit } = await import('../lib');
  const model = vit({ pretrained: weights, numClasses: 1000 })
    .eval()
    .to({ device: 'cuda', dtype: dtype as BenchDType });
  const pixels = readFloats(images);
  const results = [];
  for (const batch of batches.split(',').map(Number)) {
    const input = tensor(pixels.subarray(0, batch * IMAGE_VALUES), [batch, 3, 224, 224], { device: 'cuda' }).to(
      dtype as BenchDType,
    );
    // toFloat32Array copies the logits to the host, which waits for the GPU: the clock covers the whole forward.
    const step = async () => {
      const output = await model.forwardAsync(input);
      try {
        return output.toFloat32Array();
      } finally {
        output.dispose();
      }
    };
    for (let i = 0; i < 3; i++) await step();
    const seconds: number[] = [];
    let logits: Float32Array = new Float32Array();
    for (let i = 0; i < Number(reps); i++) {
      const started = process.hrtime.bigint();
      logits = await step();
      seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
    }
    fs.writeFileSync(`${out}-${batch}.f32`, Buffer.from(logits.buffer));
    results.push({ batch, seconds });
    input.dispose();
  }
  console.log(JSON.stringify({ results }));
}

function runChild(command: string, args: string[]): ContestantResult {
  const child = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--contestant') return runVitorchContestant(process.argv.slice(4));
  const options = parseOptions(process.argv.slice(2));
  const { cuda, manualSeed, VisionTransformer } = await import('../lib');
  if (!cuda.isAvailable()) {
    console.log('gpu-inference: skipped, no CUDA device visible');
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-gpu-bench-'));
  try {
    // The article's ViT-B/16 with seeded random weights, written once for both contestants.
    manualSeed(0);
    const weights = path.join(work, 'vit-b16.pth');
    const model = new VisionTransformer({ numClasses: 1000 });
    model.saveStateDict(weights);
    model.dispose();
    const maxBatch = Math.max(...options.batches);
    const images = path.join(work, 'images.f32');
    const pixels = new Float32Array(maxBatch * IMAGE_VALUES).map((_, i) => Math.sin(i * 0.001));
    fs.writeFileSync(images, Buffer.from(pixels.buffer));

    const python = process.env.PYTHON || 'python3';
    const rows: string[][] = [];
    let device = '';
    for (const dtype of options.dtypes) {
      const batches = options.batches.join(',');
      const ours = runChild(process.execPath, [
        __filename,
        '--contestant',
        'vitorch',
        weights,
        images,
        dtype,
        batches,
        String(options.reps),
        path.join(work, `vitorch-${dtype}`),
      ]);
      const theirs = runChild(python, [
        path.join(root, 'bench', 'gpu_inference_torch.py'),
        '--weights',
        weights,
        '--dtype',
        dtype,
        '--batches',
        batches,
        '--reps',
        String(options.reps),
        '--input',
        images,
        '--save-output',
        path.join(work, `torch-${dtype}`),
      ]);
      device = theirs.device ?? device;
      for (const batch of options.batches) {
        const a = readFloats(path.join(work, `vitorch-${dtype}-${batch}.f32`));
        const b = readFloats(path.join(work, `torch-${dtype}-${batch}.f32`));
        let error = 0;
        let scale = 1e-12;
        for (let i = 0; i < b.length; i++) {
          error = Math.max(error, Math.abs(a[i] - b[i]));
          scale = Math.max(scale, Math.abs(b[i]));
        }
        if (a.length !== b.length || error > AGREEMENT[dtype] * scale) {
          throw new Error(
            `${dtype} batch ${batch}: vitorch's logits differ from PyTorch's by ${error} (scale ${scale})`,
          );
        }
        const ourRate = batch / median(ours.results.find((r) => r.batch === batch)!.seconds);
        const theirRate = batch / median(theirs.results.find((r) => r.batch === batch)!.seconds);
        rows.push([
          dtype,
          String(batch),
          ourRate.toFixed(1),
          theirRate.toFixed(1),
          (ourRate / theirRate).toFixed(2),
          (error / scale).toExponential(1),
        ]);
      }
    }
    console.log(`ViT-B/16 on ${device}: images/s, medians of ${options.reps} reps`);
    const header = ['dtype', 'batch', 'vitorch', 'PyTorch', 'ratio', 'max|diff|/scale'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    for (const row of [header, ...rows]) console.log(row.map((cell, c) => cell.padStart(widths[c])).join('  '));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

runMain('gpu-inference', main);
