// The cost of the article's AutoAugment in the data loader: milliseconds per training batch, against the article's own way
// of running the policy (PIL in Python, bench/augment_pil.py) on the same images, measured in the same run.
//   fashion-mnist: 128 Fashion-MNIST training images (28x28 grey), IdxDataset.loadSync with random crop (padding 2)
//                  and flip, with and without the policy (what the training loop's prefetch calls per batch);
//   rgb-224:       32 generated 224x224 RGB images, the policy alone on bytes (for image files it runs after sharp).
// Prints a table and writes bench/results/augment.json.
//
//   npm run bench:augment -- [reps=40]    (or: npm run build:ts && node dist/bench/augment.js [reps])
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { autoAugment } from '../lib/data/auto-augment';
import { forKey } from '../lib/data/random';
import { idxDataset } from '../lib/data/idx';
import { countArgument, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
// Timed calls per contestant: the one argument, set by main().
let reps = 40;
const fashion = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Milliseconds of each of `reps` calls after two warm-up ones; each call gets fresh streams (a new epoch). */
function time(run: (rep: number) => void): number[] {
  const ms: number[] = [];
  for (let rep = -2; rep < reps; rep++) {
    const start = process.hrtime.bigint();
    run(rep);
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (rep >= 0) ms.push(elapsed);
  }
  return ms;
}

function pil(file: string, width: number, height: number, channels: number, batch: number): number[] {
  const run = spawnSync(
    process.execPath,
    [
      path.join(root, 'scripts', 'python.js'),
      path.join(root, 'bench', 'augment_pil.py'),
      file,
      String(width),
      String(height),
      String(channels),
      String(batch),
      String(reps),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`bench/augment_pil.py failed:\n${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split('\n').pop()!) as { seconds: number[] }).seconds.map((s) => s * 1000);
}

/** Smooth gradients with noise, deterministic: content on which every operation does real work. */
function rgbImages(count: number, size: number): Uint8Array {
  const out = new Uint8Array(count * size * size * 3);
  const rng = forKey(2026);
  for (let i = 0, o = 0; i < count; i++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        out[o++] = Math.min(255, (x * 255) / size + rng.int(24));
        out[o++] = Math.min(255, (y * 255) / size + rng.int(24));
        out[o++] = (x + y + i * 17) % 256;
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  reps = countArgument(process.argv.slice(2), 'reps', 40);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-bench-augment-'));
  try {
    const images = path.join(fashion, 'train-images-idx3-ubyte.gz');
    const labels = path.join(fashion, 'train-labels-idx1-ubyte.gz');
    const batch = 128;
    const plain = await idxDataset({ images, labels, augmentation: { cropPadding: 2 } });
    const policy = await idxDataset({ images, labels, augmentation: { cropPadding: 2, autoAugment: true } });
    const indices = Array.from({ length: batch }, (_, i) => i);
    const streams = (rep: number) => indices.map((i) => forKey(0, rep + 2, i));
    const fashionFile = path.join(work, 'fashion-128.u8');
    const bytes = new Uint8Array(batch * 784);
    indices.forEach((i) => bytes.set(plain.raw(i), i * 784));
    fs.writeFileSync(fashionFile, bytes);

    const rgbBatch = 32;
    const rgb = rgbImages(rgbBatch, 224);
    const rgbFile = path.join(work, 'rgb-224.u8');
    fs.writeFileSync(rgbFile, rgb);
    const plane = 224 * 224 * 3;

    const results = {
      'fashion-mnist': {
        batch,
        'vitorch crop+flip': time((rep) => plain.loadSync(indices, streams(rep))),
        'vitorch crop+flip+autoaugment': time((rep) => policy.loadSync(indices, streams(rep))),
        'seed PIL autoaugment': pil(fashionFile, 28, 28, 1, batch),
      },
      'rgb-224': {
        batch: rgbBatch,
        'vitorch autoaugment': time((rep) => {
          for (let k = 0; k < rgbBatch; k++) {
            autoAugment(
              { data: rgb.subarray(k * plane, (k + 1) * plane), width: 224, height: 224, channels: 3 },
              forKey(1, rep + 2, k),
            );
          }
        }),
        'seed PIL autoaugment': pil(rgbFile, 224, 224, 3, rgbBatch),
      },
    };

    console.log(
      `AutoAugment cost per batch, ${reps} timed batches each (median ms; CPU: ${os.cpus()[0]?.model}, ${os.cpus().length} cores)`,
    );
    const summary: Record<string, Record<string, number>> = {};
    for (const [set, r] of Object.entries(results)) {
      summary[set] = {};
      for (const [name, ms] of Object.entries(r)) {
        if (name === 'batch') continue;
        summary[set][name] = median(ms as number[]);
        console.log(
          `${set.padEnd(14)} batch ${String(r.batch).padStart(3)}  ${name.padEnd(30)} ${median(ms as number[])
            .toFixed(2)
            .padStart(8)} ms`,
        );
      }
    }
    const f = summary['fashion-mnist'];
    const policyCost = f['vitorch crop+flip+autoaugment'] - f['vitorch crop+flip'];
    const ratios = {
      'fashion-mnist: PIL policy / vitorch crop+flip+policy':
        f['seed PIL autoaugment'] / f['vitorch crop+flip+autoaugment'],
      'rgb-224: PIL policy / vitorch policy':
        summary['rgb-224']['seed PIL autoaugment'] / summary['rgb-224']['vitorch autoaugment'],
    };
    console.log(`fashion-mnist: the policy adds ${policyCost.toFixed(2)} ms per batch of ${batch}`);
    for (const [name, ratio] of Object.entries(ratios)) console.log(`${name}: ${ratio.toFixed(2)}x`);
    fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'bench', 'results', 'augment.json'),
      JSON.stringify({ reps, summary, ratios, results }, null, 2),
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

runMain('augment', main);
