// `vitorch serve` under load against the best offline batched throughput of the same model measured in the same
// run, and against TorchServe serving the same weights with its own batching. Each server runs in a process of its
// own, the load (autocannon, `--clients` closed-loop connections, one image per request) in another; each round
// runs the offline sweeps and then every server in turn (the order reversed every other round), each started
// fresh and stopped after its load. Prints a table and writes bench/results/serve.json. `--dtypes float32,bfloat16,int8`
// runs vitorch alone, one server per precision (`vitorch serve --dtype D`), each against its own offline sweep: one
// row per precision, side by side. Each vitorch server is then loaded by Triton's perf_analyzer too, at the same
// concurrency, over HTTP (binary and JSON tensors) and gRPC (bench/serve-perf-analyzer.ts), and both tools' figures
// are printed side by side; `--perf-analyzer none` leaves it out.
//
//   npm run bench:serve -- [--runs 3] [--duration 60] [--warmup 15] [--clients 32] [--threads 2]
//       [--max-batch 16] [--max-delay-ms 50] [--max-queue 64] [--timeout-ms 120000] [--batches 1,2,4,8,16]
//       [--only vitorch-fp32,vitorch-bf16,vitorch-int8,torchserve,torchserve-feature-dispatch
//        | --dtypes float32,bfloat16,int8] [--perf-analyzer http-binary,http-json,grpc | none]
//       [--pa-interval-ms N] [--pa-stability 10] [--pa-percentile 50] [--pa-max-trials 10] [--quick]
//
// See bench/README.md for what is measured and the figures.
import * as fs from 'fs';
import * as path from 'path';
import { root } from './bench-inputs';
import { describeCpu } from './cpu';
import { featureDispatchLibrary, vendorDispatchDiffers } from './feature-dispatch';
import { runLoad, summarize, LoadSummary } from './load';
import { measureOffline, OfflineSweep, SERVED_PRECISIONS, SHORT_NAME } from './offline-throughput';
import type { ServedPrecision } from './offline-throughput';
import { perfAnalyzerMissing } from './perf-analyzer';
import { sampleRss } from './process-rss';
import { fetchMetrics, histogramMean } from './prometheus-text';
import { writeResults } from './results';
import {
  parseFlags,
  prepare,
  Prepared,
  serverSettings,
  ServerSettings,
  UsageError,
  wholeNumber,
} from './serve-options';
import { ServerUnderTest } from './server-under-test';
import {
  measureWithPerfAnalyzer,
  PERF_ANALYZER_MODES,
  PerfAnalyzerMode,
  PerfAnalyzerRun,
  PerfAnalyzerSettings,
  reportLoadGenerators,
} from './serve-perf-analyzer';
import { median } from './stats';
import { startTorchServe, torchServeMissing } from './torchserve-server';
import { startVitorchServer } from './vitorch-server';

const resultsFile = path.join(root, 'bench', 'results', 'serve.json');
// torchserve-feature-dispatch is TorchServe with MKL told to pick its kernels by CPU features, as vitorch does
// (bench/feature-dispatch.ts); it runs on non-Intel CPUs only, where that choice differs from MKL's own.
const CONTESTANTS = [
  'vitorch-fp32',
  'vitorch-bf16',
  'vitorch-int8',
  'torchserve',
  'torchserve-feature-dispatch',
] as const;
const TORCHSERVES: Contestant[] = ['torchserve', 'torchserve-feature-dispatch'];
type Contestant = (typeof CONTESTANTS)[number];
// What runs without --only or --dtypes: the servers of the published figures (bench/README.md).
const DEFAULT_CONTESTANTS: Contestant[] = ['vitorch-fp32', 'vitorch-bf16', 'torchserve', 'torchserve-feature-dispatch'];
/** The vitorch server of each precision (`vitorch serve --dtype`). */
const VITORCH_SERVERS: Record<ServedPrecision, Contestant> = {
  float32: 'vitorch-fp32',
  bfloat16: 'vitorch-bf16',
  int8: 'vitorch-int8',
};
const precisionOf = (contestant: Contestant): ServedPrecision | undefined =>
  SERVED_PRECISIONS.find((precision) => VITORCH_SERVERS[precision] === contestant);
const CLASSES = 1000;
const RSS_INTERVAL_MS = 2000;
// The same model in float32 gives the same logits up to reassociation (the project's parity tolerance).
const SAME_MODEL_TOLERANCE = 1e-4;

interface Options {
  runs: number;
  durationSeconds: number;
  warmupSeconds: number;
  clients: number;
  batches: number[];
  only: Contestant[];
  server: ServerSettings;
  perfAnalyzer: PerfAnalyzerSettings;
}

function parseOptions(argv: string[]): Options {
  const values = parseFlags(argv, {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '15' },
    clients: { type: 'string', default: '32' },
    batches: { type: 'string', default: '1,2,4,8,16' },
    only: { type: 'string' },
    dtypes: { type: 'string' },
    'perf-analyzer': { type: 'string', default: PERF_ANALYZER_MODES.join(',') },
    'pa-interval-ms': { type: 'string' },
    'pa-stability': { type: 'string' },
    // The median, which the few requests held up by other processes on a shared machine do not move as the mean.
    'pa-percentile': { type: 'string', default: '50' },
    'pa-max-trials': { type: 'string' },
    quick: { type: 'boolean', default: false },
  });
  if (values.quick) Object.assign(values, { runs: '1', duration: '20', warmup: '10', batches: '1,4,8' });
  if (values.only !== undefined && values.dtypes !== undefined) {
    throw new UsageError('give --only or --dtypes, not both (--dtypes picks the vitorch servers by precision)');
  }
  let only: Contestant[];
  if (values.dtypes !== undefined) {
    const dtypes = (values.dtypes as string).split(',') as ServedPrecision[];
    const unknown = dtypes.filter((dtype) => !SERVED_PRECISIONS.includes(dtype));
    if (unknown.length) {
      throw new UsageError(`unknown dtype ${unknown.join(', ')} for --dtypes; known: ${SERVED_PRECISIONS.join(', ')}`);
    }
    only = dtypes.map((dtype) => VITORCH_SERVERS[dtype]);
  } else {
    only = values.only === undefined ? DEFAULT_CONTESTANTS : ((values.only as string).split(',') as Contestant[]);
    const unknown = only.filter((name) => !CONTESTANTS.includes(name));
    if (unknown.length) throw new UsageError(`unknown server ${unknown.join(', ')}; known: ${CONTESTANTS.join(', ')}`);
  }
  const batches = (values.batches as string).split(',').map((b) => wholeNumber({ batches: b }, 'batches'));
  const clients = wholeNumber(values, 'clients');
  const modesText = values['perf-analyzer'] as string;
  const modes = modesText === 'none' ? [] : (modesText.split(',') as PerfAnalyzerMode[]);
  const unknownModes = modes.filter((mode) => !PERF_ANALYZER_MODES.includes(mode));
  if (unknownModes.length) {
    throw new UsageError(
      `unknown perf_analyzer mode ${unknownModes.join(', ')}; known: ${PERF_ANALYZER_MODES.join(', ')}, or none`,
    );
  }
  const durationSeconds = wholeNumber(values, 'duration');
  // perf_analyzer's own defaults, 10% and 10 windows; --quick's short windows hold few batches of ViT-B/16 (16 images
  // in a ~7 s window is a sixth of it), so one batch more or less is already past 10%: there, 25% and 6 windows.
  values['pa-stability'] ??= values.quick ? '25' : '10';
  values['pa-max-trials'] ??= values.quick ? '6' : '10';
  return {
    runs: wholeNumber(values, 'runs'),
    durationSeconds,
    warmupSeconds: wholeNumber(values, 'warmup', 0),
    clients,
    batches,
    only,
    // The queue must hold every client's request, or the normal load would see 503s.
    server: serverSettings(values, 2 * clients),
    perfAnalyzer: {
      modes,
      concurrency: clients,
      // Three windows (the fewest perf_analyzer reports on) span about the autocannon load's measured time.
      intervalMs:
        values['pa-interval-ms'] === undefined
          ? Math.max(1000, Math.round((durationSeconds * 1000) / 3))
          : wholeNumber(values, 'pa-interval-ms'),
      stabilityPercent: wholeNumber(values, 'pa-stability'),
      stabilizingPercentile: wholeNumber(values, 'pa-percentile'),
      maxTrials: wholeNumber(values, 'pa-max-trials'),
    },
  };
}

interface Agreement {
  maxAbsDifference: number;
  relativeToLargest: number;
  sameTop1: boolean;
}

function agreement(logits: Float32Array, reference: Float32Array): Agreement {
  if (logits.length !== CLASSES) throw new Error(`the server answered ${logits.length} logits, expected ${CLASSES}`);
  let maxAbsDifference = 0;
  let largest = 0;
  let top = 0;
  let referenceTop = 0;
  for (let i = 0; i < CLASSES; i++) {
    maxAbsDifference = Math.max(maxAbsDifference, Math.abs(logits[i] - reference[i]));
    largest = Math.max(largest, Math.abs(reference[i]));
    if (logits[i] > logits[top]) top = i;
    if (reference[i] > reference[referenceTop]) referenceTop = i;
  }
  return { maxAbsDifference, relativeToLargest: maxAbsDifference / largest, sameTop1: top === referenceTop };
}

interface ServerRun {
  contestant: Contestant;
  round: number;
  label: string;
  format: string;
  threads: number | undefined;
  agreement: Agreement;
  load: LoadSummary;
  meanBatch?: number;
  peakRssBytes: number;
  /** perf_analyzer's measurements after autocannon's, one per mode. */
  perfAnalyzer: PerfAnalyzerRun[];
}

async function startServer(
  contestant: Contestant,
  prepared: Prepared,
  settings: ServerSettings,
  grpc: boolean,
): Promise<ServerUnderTest> {
  const common = { weights: prepared.weights, image: prepared.image, ...settings };
  if (contestant === 'torchserve') return startTorchServe({ python: prepared.python, ...common });
  if (contestant === 'torchserve-feature-dispatch') {
    return startTorchServe({ python: prepared.python, ...common, preload: featureDispatchLibrary() });
  }
  return startVitorchServer({ ...common, dtype: precisionOf(contestant)!, grpc });
}

async function measureServer(
  contestant: Contestant,
  round: number,
  prepared: Prepared,
  options: Options,
  reference: Float32Array,
): Promise<ServerRun> {
  const server = await startServer(contestant, prepared, options.server, options.perfAnalyzer.modes.includes('grpc'));
  try {
    const check = agreement(await server.infer(prepared.image), reference);
    // Float32 servers must serve the benchmark's model; bfloat16 and int8 are reported, their rounding being the point.
    const reduced = precisionOf(contestant) === 'bfloat16' || precisionOf(contestant) === 'int8';
    if (!reduced && check.relativeToLargest > SAME_MODEL_TOLERANCE) {
      throw new Error(
        `${server.label} answered logits ${check.relativeToLargest.toExponential(2)} of the largest away ` +
          'from the offline forward: not the same model',
      );
    }
    const metricsBefore = server.metricsUrl ? await fetchMetrics(server.metricsUrl) : undefined;
    const rss = sampleRss(server.process.pid, RSS_INTERVAL_MS);
    const record = await runLoad({
      mode: 'closed',
      connections: options.clients,
      ...server.target,
      durationSeconds: options.warmupSeconds + options.durationSeconds,
      timeoutSeconds: options.server.timeoutMs / 1000,
    });
    const samples = rss.stop();
    let meanBatch: number | undefined;
    // After autocannon's load and its batch sizes, so that neither tool's figures include the other's requests.
    if (server.metricsUrl && metricsBefore) {
      // Batches of the whole load (warm-up included): the histogram's mean over what this load added.
      const before = histogramMean(metricsBefore, /batch_size/);
      const after = histogramMean(await fetchMetrics(server.metricsUrl), /batch_size/);
      if (before && after && after.count > before.count) {
        meanBatch = (after.mean * after.count - before.mean * before.count) / (after.count - before.count);
      }
    }
    const perfAnalyzer = server.perfAnalyzer ? await measureWithPerfAnalyzer(server, options.perfAnalyzer) : [];
    return {
      contestant,
      round,
      label: server.label,
      format: server.format,
      threads: server.threads(),
      agreement: check,
      load: summarize(
        record,
        options.warmupSeconds,
        record.startedAtMs + (options.warmupSeconds + options.durationSeconds) * 1000,
      ),
      meanBatch,
      peakRssBytes: Math.max(...samples.map((s) => s.bytes)),
      perfAnalyzer,
    };
  } finally {
    await server.stop();
  }
}

const fixed = (value: number | undefined, digits: number) =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
const pad = (text: string, width: number) => text.padStart(width);

function report(
  options: Options,
  runs: ServerRun[],
  offline: OfflineSweep[],
  skipped: Record<string, string>,
): Record<string, unknown> {
  const cpu = describeCpu();
  console.log(
    `\n${cpu.model} (family ${cpu.family ?? '?'}), ${cpu.logicalCpus} logical CPUs, AVX-512 BF16 ${cpu.avx512Bf16 ? 'yes' : 'no'}; ` +
      `${options.server.threads} intra-op threads per model; ${options.clients} clients, ${options.durationSeconds} s measured ` +
      `after ${options.warmupSeconds} s of warm-up; max batch ${options.server.maxBatch}, max delay ${options.server.maxDelayMs} ms; ` +
      `medians of ${options.runs} run(s)\n`,
  );
  const offlineBest = (dtype: string) =>
    median(offline.filter((s) => s.dtype === dtype).map((s) => s.best.imagesPerSecond));
  const summaries: Record<string, Record<string, unknown>> = {};
  console.log(
    `${'server'.padEnd(20)}${pad('images/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('errors', 8)}` +
      `${pad('batch', 7)}${pad('RSS MiB', 9)}  runs (images/s)`,
  );
  for (const contestant of options.only) {
    const mine = runs.filter((r) => r.contestant === contestant);
    if (!mine.length) continue;
    const summary = {
      label: mine[0].label,
      imagesPerSecond: median(mine.map((r) => r.load.imagesPerSecond)),
      p50Ms: median(mine.map((r) => r.load.ok.p50Ms)),
      p99Ms: median(mine.map((r) => r.load.ok.p99Ms)),
      errors: mine.reduce((total, r) => total + r.load.errors, 0),
      meanBatch: mine.every((r) => r.meanBatch !== undefined)
        ? median(mine.map((r) => r.meanBatch as number))
        : undefined,
      peakRssMiB: Math.max(...mine.map((r) => r.peakRssBytes)) / 2 ** 20,
      threads: mine[0].threads,
    };
    summaries[contestant] = summary;
    console.log(
      `${summary.label.padEnd(20)}${pad(fixed(summary.imagesPerSecond, 2), 10)}${pad(fixed(summary.p50Ms, 0), 9)}` +
        `${pad(fixed(summary.p99Ms, 0), 9)}${pad(String(summary.errors), 8)}${pad(fixed(summary.meanBatch, 1), 7)}` +
        `${pad(fixed(summary.peakRssMiB, 0), 9)}  ${mine.map((r) => r.load.imagesPerSecond.toFixed(2)).join(', ')}`,
    );
  }
  for (const dtype of SERVED_PRECISIONS) {
    const sweeps = offline.filter((s) => s.dtype === dtype);
    if (!sweeps.length) continue;
    const perBatch = sweeps[0].points.map(
      ({ batch }) =>
        `b${batch} ${median(sweeps.map((s) => s.points.find((p) => p.batch === batch)?.imagesPerSecond ?? NaN)).toFixed(2)}`,
    );
    console.log(
      `${`offline ${SHORT_NAME[dtype]} best`.padEnd(20)}${pad(offlineBest(dtype).toFixed(2), 10)}` +
        `  (median over runs; per batch: ${perBatch.join(', ')})`,
    );
  }
  const ratios: Record<string, number> = {};
  const line = (name: string, value: number, goal?: string) => {
    ratios[name] = value;
    console.log(
      `  ${name.padEnd(34)} ${Number.isNaN(value) ? '-' : `${value.toFixed(2)}x`}${goal ? `   (goal ${goal})` : ''}`,
    );
  };
  console.log('');
  const throughput = (c: Contestant) => (summaries[c]?.imagesPerSecond as number | undefined) ?? NaN;
  const p99 = (c: Contestant) => (summaries[c]?.p99Ms as number | undefined) ?? NaN;
  for (const dtype of SERVED_PRECISIONS) {
    const server = VITORCH_SERVERS[dtype];
    const name = SHORT_NAME[dtype];
    if (summaries[server])
      line(`vitorch ${name} / offline ${name} best`, throughput(server) / offlineBest(dtype), '>= 0.90');
  }
  // The precisions side by side: what a reduced one gains over float32 when served.
  for (const dtype of SERVED_PRECISIONS.filter((d) => d !== 'float32')) {
    const server = VITORCH_SERVERS[dtype];
    if (summaries[server] && summaries['vitorch-fp32'])
      line(`vitorch ${SHORT_NAME[dtype]} / vitorch fp32`, throughput(server) / throughput('vitorch-fp32'));
  }
  // The peer is TorchServe at its best: the faster of its forms that ran.
  const peers = TORCHSERVES.filter((c) => summaries[c]);
  if (summaries['vitorch-fp32'] && peers.length) {
    const best = peers.reduce((a, b) => (throughput(b) > throughput(a) ? b : a));
    for (const peer of peers) {
      const label = summaries[peer].label as string;
      line(
        `vitorch fp32 / ${label}${peer === best ? ' *' : ''}`,
        throughput('vitorch-fp32') / throughput(peer),
        '>= 1.30 against *',
      );
      console.log(
        `  ${`p99 vitorch fp32 vs ${label}`.padEnd(34)} ${p99('vitorch-fp32').toFixed(0)} ms vs ${p99(peer).toFixed(0)} ms   (goal: lower)`,
      );
    }
    ratios.bestTorchServe = throughput('vitorch-fp32') / throughput(best);
  }
  console.log('\nwire formats:');
  for (const contestant of options.only) {
    const first = runs.find((r) => r.contestant === contestant);
    if (first) {
      console.log(
        `  ${first.label}: ${first.format}; ${first.threads ?? '?'} threads; logits vs offline fp32: ` +
          `${first.agreement.relativeToLargest.toExponential(2)} of the largest, top-1 ${first.agreement.sameTop1 ? 'same' : 'differs'}`,
      );
    }
  }
  for (const [contestant, reason] of Object.entries(skipped)) console.log(`  ${contestant}: not run: ${reason}`);
  let loadGenerators: Record<string, unknown>[] | undefined;
  if (options.perfAnalyzer.modes.length) {
    const servers = options.only
      .map((contestant) => runs.filter((r) => r.contestant === contestant && r.perfAnalyzer.length))
      .filter((mine) => mine.length)
      .map((mine) => ({
        label: mine[0].label,
        autocannon: mine.map((r) => r.load),
        perfAnalyzer: mine.flatMap((r) => r.perfAnalyzer),
      }));
    if (servers.length) {
      console.log(
        `\nboth load generators, ${options.clients} closed-loop clients each (perf_analyzer: ${options.perfAnalyzer.intervalMs} ms ` +
          `windows until three agree within ${options.perfAnalyzer.stabilityPercent}% on throughput and ` +
          `p${options.perfAnalyzer.stabilizingPercentile} latency, at most ${options.perfAnalyzer.maxTrials}; ` +
          'its throughput counted in those windows):',
      );
      loadGenerators = reportLoadGenerators(servers, options.perfAnalyzer.modes);
    }
  }
  return { date: new Date().toISOString(), cpu, options, summaries, ratios, offline, runs, skipped, loadGenerators };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const prepared = prepare(options.batches);
  const skipped: Record<string, string> = {};
  let contestants = [...options.only];
  if (contestants.includes('torchserve-feature-dispatch') && !vendorDispatchDiffers()) {
    skipped['torchserve-feature-dispatch'] = 'an Intel CPU: MKL already dispatches by features';
    contestants = contestants.filter((c) => c !== 'torchserve-feature-dispatch');
  }
  const missing = contestants.some((c) => TORCHSERVES.includes(c)) ? torchServeMissing(prepared.python) : undefined;
  if (missing) {
    for (const c of contestants.filter((c) => TORCHSERVES.includes(c))) skipped[c] = missing;
    contestants = contestants.filter((c) => !TORCHSERVES.includes(c));
  }
  if (options.perfAnalyzer.modes.length) {
    const missing = perfAnalyzerMissing();
    if (missing) {
      skipped['perf_analyzer'] = missing;
      options.perfAnalyzer.modes = [];
    }
  }
  const referenceFile = path.join(path.dirname(prepared.inputs.get(1) as string), 'bench-serve-reference-b1.f32');
  const runs: ServerRun[] = [];
  const offline: OfflineSweep[] = [];
  // float32's sweep always runs: its batch-1 logits are what every server's answer is checked against.
  const offlinePrecisions = SERVED_PRECISIONS.filter(
    (dtype) => dtype === 'float32' || contestants.includes(VITORCH_SERVERS[dtype]),
  );
  for (let round = 0; round < options.runs; round++) {
    for (const dtype of offlinePrecisions) {
      console.error(
        `round ${round + 1}/${options.runs}: offline ${SHORT_NAME[dtype]} sweep (batches ${options.batches.join(',')})`,
      );
      offline.push(
        measureOffline({
          dtype,
          weights: prepared.weights,
          threads: options.server.threads,
          batches: options.batches,
          inputs: prepared.inputs,
          saveBatch1Logits: dtype === 'float32' ? referenceFile : undefined,
        }),
      );
    }
    const bytes = fs.readFileSync(referenceFile);
    // Copied out: the Buffer may be a view into a larger pool, at an offset a Float32Array cannot start at.
    const reference = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const order = round % 2 === 0 ? contestants : [...contestants].reverse();
    for (const contestant of order) {
      console.error(
        `round ${round + 1}/${options.runs}: ${contestant}, ${options.clients} clients, ` +
          `${options.warmupSeconds} + ${options.durationSeconds} s`,
      );
      const run = await measureServer(contestant, round, prepared, options, reference);
      console.error(
        `  ${run.load.imagesPerSecond.toFixed(2)} images/s (counted in the window ${run.load.countedImagesPerSecond.toFixed(2)}), p50 ${run.load.ok.p50Ms.toFixed(0)} ms, ` +
          `p99 ${run.load.ok.p99Ms.toFixed(0)} ms, ${run.load.errors} errors`,
      );
      runs.push(run);
    }
  }
  const results = report(options, runs, offline, skipped);
  writeResults(resultsFile, results, { finalNewline: true, blankLineBefore: true });
}

main().catch((error) => {
  console.error(error instanceof UsageError ? `serve bench: ${error.message}` : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
