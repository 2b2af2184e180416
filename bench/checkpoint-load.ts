// Loading a ViT-B/16 checkpoint (~346 MB) until the model is ready to run: vitorch's vit({ pretrained }) against
// PyTorch's VisionTransformer() + torch.load + load_state_dict on the same file, alternating, each load in a fresh
// process so that peak memory is its own. Prints a table and writes bench/results/checkpoint-load.json.
//
//   npm run build:ts && node dist/bench/checkpoint-load.js [runs=5]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { countArgument, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
const checkpoint = path.join(root, 'model_data', 'vit-patch_16.pth');

interface Sample {
  seconds: number;
  peakGrowthBytes: number;
}

function measure(command: string, args: string[]): Sample {
  const run = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function main(): void {
  const runs = countArgument(process.argv.slice(2), 'runs', 5);
  const python = path.join(root, 'scripts', 'python.js');
  if (!fs.existsSync(checkpoint)) {
    const made = spawnSync(process.execPath, [python, 'tools/make_demo_checkpoint.py', checkpoint], {
      cwd: root,
      stdio: 'inherit',
    });
    if (made.status !== 0) throw new Error('could not write the benchmark checkpoint');
  }
  const fileBytes = fs.statSync(checkpoint).size;
  const samples: Record<'vitorch' | 'pytorch', Sample[]> = { vitorch: [], pytorch: [] };
  for (let i = 0; i < runs; i++) {
    samples.vitorch.push(measure(process.execPath, [path.join(__dirname, 'checkpoint-load-once.js'), checkpoint]));
    samples.pytorch.push(
      measure(process.execPath, [python, path.join(root, 'bench', 'checkpoint_load_once.py'), checkpoint]),
    );
  }
  const summarize = (list: Sample[]) => {
    const seconds = list.map((s) => s.seconds);
    return {
      medianSeconds: median(seconds),
      minSeconds: Math.min(...seconds),
      maxSeconds: Math.max(...seconds),
      medianPeakGrowthPerFileSize: median(list.map((s) => s.peakGrowthBytes / fileBytes)),
      samples: list,
    };
  };
  const summary = { vitorch: summarize(samples.vitorch), pytorch: summarize(samples.pytorch) };
  const speedup = summary.pytorch.medianSeconds / summary.vitorch.medianSeconds;

  console.log(
    `checkpoint ${path.relative(root, checkpoint)}: ${(fileBytes / 1e6).toFixed(1)} MB, ${runs} runs each, alternating`,
  );
  console.log('contestant  median s  (min-max)        peak RSS growth / file size');
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `${name.padEnd(10)}  ${s.medianSeconds.toFixed(3).padStart(8)}  (${s.minSeconds.toFixed(3)}-${s.maxSeconds.toFixed(3)})  ${s.medianPeakGrowthPerFileSize.toFixed(2).padStart(6)}x`,
    );
  }
  console.log(
    `vitorch is ${speedup.toFixed(2)}x PyTorch's speed (goal >= 1.0); its peak growth is ${summary.vitorch.medianPeakGrowthPerFileSize.toFixed(2)}x the file (goal <= 1.2)`,
  );
  fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'bench', 'results', 'checkpoint-load.json'),
    JSON.stringify({ fileBytes, runs, speedup, ...summary }, null, 2),
  );
}

runMain('checkpoint-load', main);
