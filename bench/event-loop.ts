// What forwardAsync costs the event loop and the heap over a long run: `calls` inferences back to back (each awaited,
// its output disposed) while a 1 ms interval keeps the loop ticking and perf_hooks records how late the loop runs.
// A server that calls forwardAsync expects its loop delay to stay near the timer resolution, and its memory to stay
// flat once warm. Writes bench/results/event-loop.json.
//
//   npm run build:ts && node dist/bench/event-loop.js [--calls 2000] [--batch 1] [--model vit-b|small]
//
// vit-b is ViT-B/16 with model_data/vit-patch_16.pth; small is a randomly initialised ViT-Ti-sized model (width 192,
// 3 heads), ~15x cheaper per call, so the same call count shows more of the per-call overhead.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { tensor, vit, VisionTransformer } from '../lib';
import { writeResults } from './results';
import { choiceFlag, integerFlag, parseArgs, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
const checkpoint = path.join(root, 'model_data', 'vit-patch_16.pth');
const resultsFile = path.join(root, 'bench', 'results', 'event-loop.json');
const IMAGE_SHAPE = [3, 224, 224];
const WARMUP_FRACTION = 0.1;
const RSS_SAMPLE_EVERY = 50;
// perf_hooks records the time between its samples, so its values include this interval: an idle loop reads ~1 ms.
const SAMPLING_INTERVAL_MS = 1;

type ModelName = 'vit-b' | 'small';
interface Options {
  calls: number;
  batch: number;
  model: ModelName;
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(argv, ['calls', 'batch', 'model'], [], { overrides: false, positionals: false });
  return {
    calls: integerFlag(parsed, 'calls') ?? 2000,
    batch: integerFlag(parsed, 'batch') ?? 1,
    model: choiceFlag(parsed, 'model', ['vit-b', 'small'] as const) ?? 'vit-b',
  };
}

function loadModel(name: ModelName): VisionTransformer {
  if (name === 'small') return new VisionTransformer({ numFeatures: 192, depth: 12, numHeads: 3, numClasses: 1000 });
  if (!fs.existsSync(checkpoint)) {
    const python = path.join(root, 'scripts', 'python.js');
    const made = spawnSync(process.execPath, [python, 'tools/make_demo_checkpoint.py', checkpoint], {
      cwd: root,
      stdio: 'inherit',
    });
    if (made.status !== 0) throw new Error('could not write the benchmark checkpoint');
  }
  return vit({ pretrained: checkpoint });
}

const milliseconds = (nanoseconds: number) => nanoseconds / 1e6;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const model = loadModel(options.model).eval();
  // Any values do: what is measured is the loop and the memory, not the logits.
  const values = Float32Array.from({ length: options.batch * IMAGE_SHAPE.reduce((a, b) => a * b) }, (_, i) =>
    Math.sin(i),
  );
  const input = tensor(values, [options.batch, ...IMAGE_SHAPE]);

  const warmupCalls = Math.floor(options.calls * WARMUP_FRACTION);
  const progressEvery = Math.max(1, Math.round(options.calls / 10));
  const delay = monitorEventLoopDelay({ resolution: SAMPLING_INTERVAL_MS });
  // A loop with nothing scheduled has nothing to be late for; the interval gives it a 1 ms heartbeat to measure.
  const heartbeat = setInterval(() => {}, SAMPLING_INTERVAL_MS);
  const rssSamples: { call: number; rssBytes: number }[] = [];
  let rssAfterWarmup = 0;
  let measuredFrom = process.hrtime.bigint();
  const endWarmup = () => {
    rssAfterWarmup = process.memoryUsage().rss;
    // Delays from here on only: the first calls include one-time allocations and lazy initialisation.
    delay.reset();
    measuredFrom = process.hrtime.bigint();
  };

  delay.enable();
  if (warmupCalls === 0) endWarmup();
  for (let call = 1; call <= options.calls; call++) {
    const output = await model.forwardAsync(input);
    output.dispose();
    if (call % RSS_SAMPLE_EVERY === 0) rssSamples.push({ call, rssBytes: process.memoryUsage().rss });
    if (call === warmupCalls) endWarmup();
    if (call % progressEvery === 0)
      process.stderr.write(`${Math.round((100 * call) / options.calls)}% (${call} calls)\n`);
  }
  const measuredSeconds = Number(process.hrtime.bigint() - measuredFrom) / 1e9;
  delay.disable();
  clearInterval(heartbeat);
  const rssAtEnd = process.memoryUsage().rss;
  input.dispose();
  model.dispose();

  const measuredCalls = options.calls - warmupCalls;
  const result = {
    date: new Date().toISOString(),
    ...options,
    warmupCalls,
    measuredCalls,
    callsPerSecond: measuredCalls / measuredSeconds,
    eventLoopDelayMs: {
      p50: milliseconds(delay.percentile(50)),
      p99: milliseconds(delay.percentile(99)),
      max: milliseconds(delay.max),
      mean: milliseconds(delay.mean),
      samples: delay.count,
      includesSamplingIntervalMs: SAMPLING_INTERVAL_MS,
    },
    rssAfterWarmupBytes: rssAfterWarmup,
    rssAtEndBytes: rssAtEnd,
    rssGrowthPercent: (100 * (rssAtEnd - rssAfterWarmup)) / rssAfterWarmup,
    rssSamples,
  };
  const d = result.eventLoopDelayMs;
  console.log(
    `${options.model}, batch ${options.batch}: ${measuredCalls} forwardAsync calls after ${warmupCalls} warm-up, ` +
      `${result.callsPerSecond.toFixed(2)} calls/s`,
  );
  console.log(
    `event-loop delay: p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms ` +
      `(each includes the ${SAMPLING_INTERVAL_MS} ms sampling interval)`,
  );
  console.log(
    `RSS: ${(rssAfterWarmup / 2 ** 20).toFixed(1)} MiB after warm-up, ${(rssAtEnd / 2 ** 20).toFixed(1)} MiB at the end ` +
      `(${result.rssGrowthPercent >= 0 ? '+' : ''}${result.rssGrowthPercent.toFixed(1)}%)`,
  );
  writeResults(resultsFile, result);
}

runMain('event-loop', main);
