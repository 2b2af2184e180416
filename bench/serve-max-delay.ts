// `vitorch serve --max-delay-ms` measured with Triton's perf_analyzer: how long an idle batcher waits for a batch to
// fill, against throughput and latency at each concurrency. For every run and delay a fresh server (the embedded
// Fashion-MNIST model, the one `vitorch serve` serves with no --weights, unless `--model vit-b16`), then
// perf_analyzer at each concurrency in turn; the delays alternate their order from run to run. Prints medians over
// the runs side by side and writes bench/results/serve-max-delay.json.
//
//   npm run bench:serve:max-delay -- [--delays 0,5] [--concurrency 1,4,16,33] [--runs 3] [--interval-ms 2000]
//       [--stability 10] [--percentile 50] [--max-trials 20] [--model embedded|vit-b16] [--protocol http|grpc]
//       [--format binary|json]
//       [--threads 2] [--quick]
//
// See bench/README.md for what is measured and the figures.
import * as path from 'path';
import { IMAGE_VALUES, normalImages, root } from './bench-inputs';
import { describeCpu } from './cpu';
import { perfAnalyzerMissing, PerfAnalyzerFailed, runPerfAnalyzer } from './perf-analyzer';
import type { PerfAnalyzerResult } from './perf-analyzer';
import { fetchMetrics, histogramMean } from './prometheus-text';
import { writeResults } from './results';
import { choiceFlag, integerFlag, integerListFlag, parseArgs, runMain, stringFlag, UsageError } from './run-main';
import { prepare } from './serve-options';
import { median } from './stats';
import { startVitorchServer } from './vitorch-server';

const resultsFile = path.join(root, 'bench', 'results', 'serve-max-delay.json');
const MODELS = ['embedded', 'vit-b16'] as const;
const EMBEDDED_SHAPE = [1, 1, 28, 28];

interface Options {
  delays: number[];
  concurrencies: number[];
  runs: number;
  intervalMs: number;
  stability: number;
  percentile: number;
  maxTrials: number;
  model: (typeof MODELS)[number];
  protocol: 'http' | 'grpc';
  format: 'binary' | 'json';
  threads: number;
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(
    argv,
    [
      'delays',
      'concurrency',
      'runs',
      'interval-ms',
      'stability',
      'percentile',
      'max-trials',
      'model',
      'protocol',
      'format',
      'threads',
    ],
    ['quick'],
    { overrides: false, positionals: false },
  );
  const quick = parsed.flags.get('quick') === true;
  const delaysText = stringFlag(parsed, 'delays') ?? '0,5';
  const delays = delaysText.split(',').map((part) => (part.trim() === '' ? NaN : Number(part)));
  if (!delays.every((d) => Number.isInteger(d) && d >= 0))
    throw new UsageError(
      `expected whole numbers of milliseconds separated by commas for --delays, received '${delaysText}'`,
    );
  return {
    delays,
    concurrencies: integerListFlag(parsed, 'concurrency') ?? (quick ? [1, 16] : [1, 4, 16, 33]),
    runs: integerFlag(parsed, 'runs') ?? (quick ? 1 : 3),
    intervalMs: integerFlag(parsed, 'interval-ms') ?? (quick ? 1000 : 2000),
    stability: integerFlag(parsed, 'stability') ?? 10,
    // Windows must agree on the median latency, not the mean, which a few requests stalled by other processes on a
    // shared machine move; up to 20 windows, so that a run waits out a busy spell rather than failing.
    percentile: integerFlag(parsed, 'percentile') ?? 50,
    maxTrials: integerFlag(parsed, 'max-trials') ?? 20,
    model: choiceFlag(parsed, 'model', MODELS) ?? 'embedded',
    protocol: choiceFlag(parsed, 'protocol', ['http', 'grpc'] as const) ?? 'http',
    format: choiceFlag(parsed, 'format', ['binary', 'json'] as const) ?? 'binary',
    threads: integerFlag(parsed, 'threads') ?? 2,
  };
}

interface Measurement {
  run: number;
  delayMs: number;
  concurrency: number;
  result?: PerfAnalyzerResult;
  /** The server's mean batch size over the measurement (warm-up windows included). */
  meanBatch?: number;
  error?: string;
}

async function measureDelay(options: Options, run: number, delayMs: number): Promise<Measurement[]> {
  const vitB16 = options.model === 'vit-b16';
  const server = await startVitorchServer({
    weights: vitB16 ? prepare([1]).weights : undefined,
    dtype: 'float32',
    threads: options.threads,
    maxDelayMs: delayMs,
    // The queue must hold every client's request, or the load would see 503s; the rest are the server's defaults.
    maxQueue: Math.max(64, 2 * Math.max(...options.concurrencies)),
    image: vitB16 ? normalImages(IMAGE_VALUES) : new Float32Array(28 * 28),
    imageShape: vitB16 ? undefined : EMBEDDED_SHAPE,
    grpc: options.protocol === 'grpc',
  });
  const endpoints = server.perfAnalyzer!;
  const measurements: Measurement[] = [];
  try {
    if (options.protocol === 'grpc' && !endpoints.grpc) throw new UsageError(`no gRPC: ${endpoints.grpcMissing}`);
    for (const concurrency of options.concurrencies) {
      const before = histogramMean(await fetchMetrics(server.metricsUrl!), /batch_size/);
      const measurement: Measurement = { run, delayMs, concurrency };
      try {
        measurement.result = await runPerfAnalyzer({
          model: endpoints.model,
          url: options.protocol === 'grpc' ? endpoints.grpc! : endpoints.http,
          protocol: options.protocol,
          inputFormat: options.format,
          outputFormat: options.format,
          concurrency,
          measurementIntervalMs: options.intervalMs,
          stabilityPercent: options.stability,
          stabilizingPercentile: options.percentile,
          maxTrials: options.maxTrials,
        });
      } catch (error) {
        if (!(error instanceof PerfAnalyzerFailed)) throw error;
        measurement.error = error.message.split('\n').slice(-2).join(' ');
      }
      const after = histogramMean(await fetchMetrics(server.metricsUrl!), /batch_size/);
      // The histogram's mean over what this measurement added (a fresh server's has no batches yet: mean NaN).
      const total = (h: typeof before) => (h && h.count > 0 ? h.mean * h.count : 0);
      if (after && after.count > (before?.count ?? 0))
        measurement.meanBatch = (total(after) - total(before)) / (after.count - (before?.count ?? 0));
      const r = measurement.result;
      console.error(
        `run ${run + 1}/${options.runs}, max delay ${delayMs} ms, concurrency ${concurrency}: ` +
          (r
            ? `${r.inferencesPerSecond.toFixed(1)} infer/s, p50 ${(r.p50Us / 1000).toFixed(2)} ms, p99 ${(r.p99Us / 1000).toFixed(2)} ms, batch ${measurement.meanBatch?.toFixed(2)}`
            : `no result: ${measurement.error}`),
      );
      measurements.push(measurement);
    }
  } finally {
    await server.stop();
  }
  return measurements;
}

const cell = (value: number | undefined, digits: number, width: number) =>
  (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits)).padStart(width);

function report(options: Options, measurements: Measurement[]): Record<string, unknown> {
  const cpu = describeCpu();
  console.log(
    `\n${cpu.model} (family ${cpu.family ?? '?'}), ${cpu.logicalCpus} logical CPUs; ${options.model} model, ` +
      `${options.threads} intra-op threads; perf_analyzer over ${options.protocol}` +
      `${options.protocol === 'http' ? ` (${options.format} tensors)` : ''}, ${options.intervalMs} ms windows, ` +
      `three agreeing within ${options.stability}% (throughput, p${options.percentile} latency); medians of ${options.runs} run(s)\n`,
  );
  const summaries: Record<string, unknown>[] = [];
  let header = 'concurrency';
  for (const delay of options.delays)
    header += ` | delay ${delay} ms: ${'infer/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'batch'.padStart(5)}`;
  console.log(`${header} | runs (infer/s)`);
  for (const concurrency of options.concurrencies) {
    let line = String(concurrency).padStart(11);
    const runsText: string[] = [];
    for (const delayMs of options.delays) {
      const mine = measurements.filter((m) => m.delayMs === delayMs && m.concurrency === concurrency);
      const ok = mine.filter((m) => m.result).map((m) => m.result!);
      const summary = {
        delayMs,
        concurrency,
        inferencesPerSecond: median(ok.map((r) => r.inferencesPerSecond)),
        p50Ms: median(ok.map((r) => r.p50Us / 1000)),
        p99Ms: median(ok.map((r) => r.p99Us / 1000)),
        meanBatch: median(mine.filter((m) => m.meanBatch !== undefined).map((m) => m.meanBatch!)),
        runs: mine.map((m) => m.result?.inferencesPerSecond ?? null),
        failures: mine.length - ok.length,
      };
      summaries.push(summary);
      line +=
        ` | ${''.padStart(`delay ${delayMs} ms:`.length)} ${cell(summary.inferencesPerSecond, 1, 8)}` +
        ` ${cell(summary.p50Ms, 2, 7)} ${cell(summary.p99Ms, 2, 7)} ${cell(summary.meanBatch, 2, 5)}`;
      runsText.push(
        `${delayMs} ms: ${mine.map((m) => m.result?.inferencesPerSecond.toFixed(1) ?? 'unstable').join(', ')}`,
      );
    }
    console.log(`${line} | ${runsText.join('; ')}`);
  }
  return { date: new Date().toISOString(), cpu, options, summaries, measurements };
}

runMain('serve-max-delay', async () => {
  const options = parseOptions(process.argv.slice(2));
  // Fails now, naming the installer, rather than after the first server has loaded.
  const missing = perfAnalyzerMissing();
  if (missing) throw new UsageError(missing);
  const measurements: Measurement[] = [];
  for (let run = 0; run < options.runs; run++) {
    const order = run % 2 === 0 ? options.delays : [...options.delays].reverse();
    for (const delayMs of order) measurements.push(...(await measureDelay(options, run, delayMs)));
  }
  writeResults(resultsFile, report(options, measurements), { finalNewline: true, blankLineBefore: true });
});
