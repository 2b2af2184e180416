// What a real trainer.fit() costs the event loop and the process's memory: examples/fashion-mnist.json's run, as
// `vitorch train` builds it, for a few epochs on a subset of the real Fashion-MNIST files, while perf_hooks records
// how late the event loop runs. The goals: delay p99 under 10 ms while fit() runs (a server sharing the
// process stays responsive), and resident memory flat from epoch to epoch (under 5% growth after the first).
// Prints the figures and writes bench/results/train-event-loop.json.
//
//   npm run build:ts && node dist/bench/train-event-loop.js [--images 12800] [--epochs 3] [--threads 2]
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { BatchLoader } from '../lib/data/loader';
import type { Dataset } from '../lib/data/dataset';
import { loadTrainConfig } from '../lib/cli/train-config';
import { buildTrainingRun, validationEpochs } from '../lib/cli/train-run';
import type { EpochBatches } from '../lib/train/trainer';
import { writeResults } from './results';
import { integerFlag, parseArgs, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
const configFile = path.join(root, 'examples', 'fashion-mnist.json');
const resultsFile = path.join(root, 'bench', 'results', 'train-event-loop.json');
// perf_hooks records the time between its samples, so its values include this interval: an idle loop reads ~1 ms.
const SAMPLING_INTERVAL_MS = 1;
const GOAL_P99_MS = 10;
const GOAL_RSS_GROWTH = 0.05;

interface Options {
  images: number;
  epochs: number;
  threads: number;
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(argv, ['images', 'epochs', 'threads'], [], { overrides: false, positionals: false });
  return {
    images: integerFlag(parsed, 'images') ?? 12_800,
    // Growth is measured after the first epoch.
    epochs: integerFlag(parsed, 'epochs', 2) ?? 3,
    threads: integerFlag(parsed, 'threads') ?? 2,
  };
}

/** The first `count` samples of a dataset: a shorter epoch of the same data, loaded the same way. */
function firstSamples(dataset: Dataset, count: number): Dataset {
  const length = Math.min(count, dataset.length);
  return {
    length,
    sampleShape: dataset.sampleShape,
    numClasses: dataset.numClasses,
    labelOf: (index) => dataset.labelOf(index),
    labels: () => dataset.labels().slice(0, length),
    load: (indices, streams) => dataset.load(indices, streams),
  };
}

const milliseconds = (nanoseconds: number) => nanoseconds / 1e6;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const config = await loadTrainConfig(configFile, {
    'train.epochs': options.epochs,
    'train.threads': options.threads,
  });
  const run = await buildTrainingRun(config);
  const t = config.train;
  const trainSet = firstSamples(run.trainSet, options.images);
  // A tenth as many validation images, as the run evaluates after every epoch: that is part of fit() too.
  const valSet = run.valSet ? firstSamples(run.valSet, Math.ceil(options.images / 10)) : null;
  // The loaders exactly as buildTrainingRun makes them, on the subsets.
  const trainLoader = new BatchLoader(trainSet, {
    batchSize: t.batchSize,
    shuffle: true,
    dropLast: true,
    seed: t.seed,
    augment: true,
    prefetch: t.prefetch,
  });
  const train = (epoch: number, _batchSize: number, startStep: number): EpochBatches => {
    const batches = trainLoader.epoch(epoch, startStep);
    return { batches, steps: trainLoader.length, waitMs: () => batches.waitMs };
  };
  const validation = validationEpochs(valSet, t.prefetch);

  console.log(
    `trainer.fit(): examples/fashion-mnist.json, ${options.epochs} epochs of ${trainSet.length} training images ` +
      `(${trainLoader.length} steps of ${t.batchSize}) and ${valSet?.length ?? 0} validation images, ${options.threads} threads, ` +
      `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} logical CPUs)`,
  );
  const delay = monitorEventLoopDelay({ resolution: SAMPLING_INTERVAL_MS });
  const epochs: {
    epoch: number;
    rssBytes: number;
    seconds: number;
    imagesPerSecond: number;
    loss: number;
    valTop1: number | null;
  }[] = [];
  let maxRss = process.memoryUsage().rss;
  const started = performance.now();
  delay.enable();
  for await (const event of run.trainer.fit({ ...run.fitOptions, train, validation })) {
    // Sampled after every step too, so that a peak inside an epoch shows in the JSON even if it is freed by its end.
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    if (event.type !== 'epoch') continue;
    const rssBytes = process.memoryUsage().rss;
    epochs.push({
      epoch: event.epoch + 1,
      rssBytes,
      seconds: event.seconds,
      imagesPerSecond: event.imagesPerSecond,
      loss: event.loss,
      valTop1: event.validation?.top1 ?? null,
    });
    console.log(
      `  epoch ${event.epoch + 1}/${event.epochs}: ${event.seconds.toFixed(1)} s, ${event.imagesPerSecond.toFixed(0)} images/s, ` +
        `loss ${event.loss.toFixed(3)}, val top-1 ${event.validation ? (event.validation.top1 * 100).toFixed(1) + '%' : '-'}, ` +
        `RSS ${mib(rssBytes)} MiB`,
    );
  }
  delay.disable();
  const totalSeconds = (performance.now() - started) / 1000;

  const p50 = milliseconds(delay.percentile(50));
  const p99 = milliseconds(delay.percentile(99));
  const max = milliseconds(delay.max);
  const first = epochs[0].rssBytes;
  const last = epochs[epochs.length - 1].rssBytes;
  const growth = (last - first) / first;
  console.log(
    `event-loop delay over the whole fit (${totalSeconds.toFixed(1)} s, ${delay.count} samples; each includes the ` +
      `${SAMPLING_INTERVAL_MS} ms sampling interval): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms`,
  );
  console.log(`  goal p99 < ${GOAL_P99_MS} ms: ${p99 < GOAL_P99_MS ? 'met' : 'NOT met'}`);
  console.log(
    `RSS at the end of epoch 1: ${mib(first)} MiB, of epoch ${epochs.length}: ${mib(last)} MiB, growth after the first ` +
      `epoch ${(growth * 100).toFixed(2)}% (peak ${mib(maxRss)} MiB)`,
  );
  console.log(`  goal growth < ${GOAL_RSS_GROWTH * 100}%: ${growth < GOAL_RSS_GROWTH ? 'met' : 'NOT met'}`);

  writeResults(resultsFile, {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? null,
    logicalCpus: os.cpus().length,
    options,
    nodeVersion: process.version,
    totalSeconds,
    eventLoopDelayMs: {
      p50,
      p90: milliseconds(delay.percentile(90)),
      p99,
      max,
      mean: milliseconds(delay.mean),
      samples: delay.count,
    },
    epochs,
    rssGrowthAfterFirstEpoch: growth,
    maxRssBytes: maxRss,
    goals: {
      p99Ms: GOAL_P99_MS,
      rssGrowth: GOAL_RSS_GROWTH,
      p99Met: p99 < GOAL_P99_MS,
      rssMet: growth < GOAL_RSS_GROWTH,
    },
  });
}

runMain('train-event-loop', main);
