// ViT-B/16 inference speed: vitorch against PyTorch eager (as the article's users run it, and at its best),
// onnxruntime and OpenVINO, each as a fraction of a roofline measured on the same machine: libtorch's own fp32 GEMM
// speed on the model's matrix shapes (its int8 GEMM speed for the int8 contestants). Every contestant runs in a fresh
// process, one at a time, on the same images. Prints a table and writes bench/results/inference.json.
//
//   npm run build:ts && node dist/bench/inference.js [--quick] [--threads N] [--batches 1,8,32] [--reps N]
//       [--only name,name] [--runs N] [--precision-batch 1|8]
//
// See bench/README.md for what each contestant is.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cpuFlags } from '../lib/cpu-features';
import { checkpoint, ensureCheckpoint, findPython, root, runSetupStep, writeInputs } from './bench-inputs';
import { featureDispatchLibrary } from './feature-dispatch';
import { onnxInt8Model, openvinoInt8Model, prepareInt8Models } from './int8-models';
import { NODE_CONTESTANTS as NODE_PROCESS_CONTESTANTS } from './node-contestants';
import { writeResults } from './results';
import { choiceListFlag, integerFlag, integerListFlag, parseArgs, runMain, UsageError } from './run-main';

const onnxModel = path.join(root, 'model_data', 'vit-patch_16.onnx');
const nodeContestantScript = path.join(__dirname, 'inference-node.js');
const torchContestantScript = path.join(root, 'bench', 'inference_torch.py');
const openvinoContestantScript = path.join(root, 'bench', 'inference_openvino.py');
const resultsFile = path.join(root, 'bench', 'results', 'inference.json');

// One 224x224 image through ViT-B/16, 2 FLOP per multiply-add: 12 blocks of qkv/proj/fc1/fc2 GEMMs (33.5 G),
// attention's two batched products (1.4 G), the patch embedding and the head.
const FLOP_PER_IMAGE = 35.1e9;
const CLASSES = 1000;
// A stuck child must not hold the machine forever; the slowest legitimate run (bf16 at batch 8) is ~10 minutes.
const CHILD_TIMEOUT_MS = 30 * 60 * 1000;

const NODE_CONTESTANTS: readonly string[] = NODE_PROCESS_CONTESTANTS;
// Swept at every batch size, every round. MKL, libtorch's GEMM on the CPU, picks slower kernels on non-Intel CPUs
// unless told otherwise; vitorch tells it ("feature dispatch"). The -feature-dispatch / -vendor-dispatch variants run
// the same contestant the other way, so that the table separates that choice from the rest.
const FLOAT32_CONTESTANTS = [
  'gemm',
  'gemm-feature-dispatch',
  'vitorch-sync',
  'vitorch-async',
  'vitorch-vendor-dispatch',
  'seed-eager',
  'best-eager',
  'best-eager-feature-dispatch',
  'onnxruntime',
];
// Measured against the int8 roofline (gemm-int8) instead of the float32 one. x86 CPUs compute int8 dot products at
// least as fast as float32 ones, VNNI or not, so these are swept like float32.
const INT8_CONTESTANTS = ['gemm-int8', 'vitorch-int8', 'onnxruntime-int8', 'openvino-int8'];
const OPENVINO_BF16 = 'openvino-bf16';
// The flags lib/precision-advice.ts calls bfloat16 hardware. Without them OpenVINO emulates bfloat16 on AVX-512 CPUs
// (and runs float32 on the others), so openvino-bf16 is swept only where they are.
const CPU_COMPUTES_BF16 = ['avx512_bf16', 'amx_bf16'].some((flag) => cpuFlags()?.has(flag) ?? false);
const SWEPT_CONTESTANTS = [
  ...FLOAT32_CONTESTANTS,
  ...INT8_CONTESTANTS,
  ...(CPU_COMPUTES_BF16 ? ['vitorch-bf16', OPENVINO_BF16] : []),
];
const OPENVINO_CONTESTANTS = [OPENVINO_BF16, 'openvino-int8'];
const FEATURE_DISPATCH_SUFFIX = '-feature-dispatch';
// Reduced precision is ~30x slower than float32 on a CPU without AVX-512 BF16/FP16 (and float16 on every CPU), so
// these run once, briefly; bfloat16 is swept with the others where the CPU computes in it.
const HALF_PRECISION_CONTESTANTS = ['vitorch-fp16', ...(CPU_COMPUTES_BF16 ? [] : ['vitorch-bf16', OPENVINO_BF16])];
const GEMM_BF16 = 'gemm-bf16';
const GEMM_INT8 = 'gemm-int8';
const BF16_MODELS = ['vitorch-bf16', OPENVINO_BF16];
const ALL_CONTESTANTS = [...SWEPT_CONTESTANTS, ...HALF_PRECISION_CONTESTANTS, GEMM_BF16];
// Contestants that run tools/export_onnx.py's graph or a model made from it.
const ONNX_CONTESTANTS = ['onnxruntime', 'onnxruntime-int8', ...OPENVINO_CONTESTANTS];
// Logits only mean something for models.
const isModel = (contestant: string) => !contestant.startsWith('gemm');

interface Options {
  quick: boolean;
  threads: number;
  batches: number[];
  reps?: number;
  only?: string[];
  runs: number;
  precisionBatch: number;
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(argv, ['threads', 'batches', 'reps', 'runs', 'precision-batch', 'only'], ['quick'], {
    overrides: false,
    positionals: false,
  });
  const quick = parsed.flags.has('quick');
  const options: Options = {
    quick,
    threads: integerFlag(parsed, 'threads') ?? os.availableParallelism(),
    batches: integerListFlag(parsed, 'batches') ?? (quick ? [1, 8] : [1, 8, 32]),
    reps: integerFlag(parsed, 'reps'),
    only: choiceListFlag(parsed, 'only', ALL_CONTESTANTS),
    runs: integerFlag(parsed, 'runs') ?? 1,
    precisionBatch: integerFlag(parsed, 'precision-batch') ?? 1,
  };
  // Half precision is slow: one image unless a full run asks for more.
  if (options.quick) options.precisionBatch = 1;
  // Its logits are compared with vitorch-sync's float32 ones on the same images, so that batch must be swept too.
  const halfPrecisionRuns = HALF_PRECISION_CONTESTANTS.some((c) => isSelected(c, options));
  if (halfPrecisionRuns && !options.batches.includes(options.precisionBatch)) {
    throw new UsageError(
      `--precision-batch ${options.precisionBatch} must be one of --batches ${options.batches.join(',')}`,
    );
  }
  return options;
}

// Timed iterations for the float32 sweep: enough for a stable median where a call is short, fewer where it is long.
function repsFor(batch: number, options: Options): number {
  if (options.reps !== undefined) return options.reps;
  if (options.quick) return batch === 1 ? 5 : 2;
  return batch === 1 ? 20 : batch <= 8 ? 5 : 3;
}

interface Job {
  contestant: string;
  batch: number;
  warmup: number;
  reps: number;
}

function isSelected(contestant: string, options: Options): boolean {
  if (options.only) return options.only.includes(contestant);
  // --quick leaves out the slow half-precision runs unless they are asked for by name.
  return !(options.quick && HALF_PRECISION_CONTESTANTS.includes(contestant));
}

interface Round {
  label: string;
  jobs: Job[];
}

/** The jobs in the order they run: per batch size, `runs` rounds over the swept contestants, alternating the order
 *  so that no contestant always runs right after the same neighbour; then the one-off reduced-precision runs.
 *  Contestants in `skipped` (their Python packages or models are missing) are left out. */
function plan(options: Options, skipped: Map<string, string>): Round[] {
  const runs = (contestant: string) => isSelected(contestant, options) && !skipped.has(contestant);
  const rounds: Round[] = [];
  for (const batch of options.batches) {
    const sweep = SWEPT_CONTESTANTS.filter(runs).map((contestant) => ({
      contestant,
      batch,
      warmup: 2,
      reps: repsFor(batch, options),
    }));
    for (let round = 0; round < options.runs; round++) {
      rounds.push({
        label: `batch ${batch}, round ${round + 1}/${options.runs}`,
        jobs: round % 2 === 0 ? sweep : [...sweep].reverse(),
      });
    }
  }
  const once: Job[] = HALF_PRECISION_CONTESTANTS.filter(runs).map((contestant) => ({
    contestant,
    batch: options.precisionBatch,
    warmup: 1,
    reps: 2,
  }));
  // One block's GEMMs on M = 197 rows; bf16 GEMM is too slow here to be worth more.
  if (runs(GEMM_BF16)) once.push({ contestant: GEMM_BF16, batch: 1, warmup: 1, reps: 2 });
  if (once.length) rounds.push({ label: 'reduced precision, once', jobs: once });
  return rounds;
}

interface ChildReport {
  seconds: number[];
  flops?: number;
  rows?: number;
  flop?: number;
  [key: string]: unknown;
}
type Outcome = { ok: true; report: ChildReport } | { ok: false; error: string };

const tail = (text: string, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');

interface ContestantCommand {
  python: string;
  threads: number;
  input?: string;
  outputFile?: string;
}

/** The program and arguments that run `job`: a Node contestant, an OpenVINO one or a PyTorch one. */
function commandLine(job: Job, command: ContestantCommand): { executable: string; args: string[] } {
  const common = [
    '--batch',
    String(job.batch),
    '--threads',
    String(command.threads),
    '--warmup',
    String(job.warmup),
    '--reps',
    String(job.reps),
  ];
  const imageArgs = [
    ...(command.input ? ['--input', command.input] : []),
    ...(command.outputFile ? ['--save-output', command.outputFile] : []),
  ];
  const modelArgs = ['--weights', checkpoint, ...imageArgs];
  if (NODE_CONTESTANTS.includes(job.contestant)) {
    const onnx = job.contestant === 'onnxruntime-int8' ? onnxInt8Model : onnxModel;
    return {
      executable: process.execPath,
      args: [nodeContestantScript, '--contestant', job.contestant, '--onnx', onnx, ...common, ...modelArgs],
    };
  }
  if (OPENVINO_CONTESTANTS.includes(job.contestant)) {
    const model = job.contestant === 'openvino-int8' ? openvinoInt8Model : onnxModel;
    return {
      executable: command.python,
      args: [openvinoContestantScript, '--contestant', job.contestant, '--model', model, ...common, ...imageArgs],
    };
  }
  const gemmArgs =
    job.contestant === GEMM_BF16 ? ['--dtype', 'bfloat16'] : job.contestant === GEMM_INT8 ? ['--dtype', 'int8'] : [];
  const base = job.contestant.replace(FEATURE_DISPATCH_SUFFIX, '');
  return {
    executable: command.python,
    args: [
      torchContestantScript,
      '--contestant',
      isModel(base) ? base : 'gemm',
      ...common,
      ...(isModel(base) ? modelArgs : gemmArgs),
    ],
  };
}

function runContestant(job: Job, command: ContestantCommand): Outcome {
  const { executable, args } = commandLine(job, command);
  const env = { ...process.env };
  if (job.contestant.endsWith(FEATURE_DISPATCH_SUFFIX)) env.LD_PRELOAD = featureDispatchLibrary();
  if (job.contestant === 'vitorch-vendor-dispatch') env.VITORCH_MKL_VENDOR_DISPATCH = '1';
  const run = spawnSync(executable, args, {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: CHILD_TIMEOUT_MS,
    env,
  });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : run.signal ? `killed by ${run.signal}` : `exit code ${run.status}`;
    return { ok: false, error: `${why}\n${tail(run.stderr ?? '')}`.trim() };
  }
  try {
    return { ok: true, report: JSON.parse(run.stdout.trim().split('\n').pop()!) as ChildReport };
  } catch {
    return { ok: false, error: `no JSON result line in its output:\n${tail(run.stdout)}\n${tail(run.stderr)}` };
  }
}

// ---- statistics ----------------------------------------------------------------------------------------------

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
function median(values: number[]): number {
  const s = sorted(values);
  const middle = Math.floor(s.length / 2);
  return s.length % 2 ? s[middle] : (s[middle - 1] + s[middle]) / 2;
}
/** Nearest-rank 90th percentile: the value that 90% of the samples do not exceed. */
const p90 = (values: number[]) => sorted(values)[Math.ceil(0.9 * values.length) - 1];

/** Everything measured for one contestant at one batch size, pooled over rounds. */
interface Measurement {
  contestant: string;
  batch: number;
  warmup: number;
  repsPerRound: number;
  rounds: number;
  seconds: number[];
  errors: string[];
  reports: ChildReport[];
  outputFile?: string;
}

interface Summary {
  medianSeconds: number;
  p90Seconds: number;
  minSeconds: number;
  maxSeconds: number;
  imagesPerSecond: number;
  minImagesPerSecond: number;
  maxImagesPerSecond: number;
}

function summarize(m: Measurement): Summary {
  const medianSeconds = median(m.seconds);
  const minSeconds = Math.min(...m.seconds);
  const maxSeconds = Math.max(...m.seconds);
  return {
    medianSeconds,
    p90Seconds: p90(m.seconds),
    minSeconds,
    maxSeconds,
    imagesPerSecond: m.batch / medianSeconds,
    minImagesPerSecond: m.batch / maxSeconds,
    maxImagesPerSecond: m.batch / minSeconds,
  };
}

interface Roofline {
  gemmFlops: number;
  rows: number;
  imagesPerSecond: number;
}

/** Which roofline a contestant is measured against: the int8 GEMM's for int8 models, the float32 one for the rest. */
const rooflinePrecisionOf = (contestant: string) => (INT8_CONTESTANTS.includes(contestant) ? 'int8' : 'float32');

function rooflineOf(gemm: Measurement | undefined): Roofline | undefined {
  if (!gemm || gemm.errors.length || !gemm.seconds.length) return undefined;
  const { flop, rows } = gemm.reports[0];
  const gemmFlops = flop! / median(gemm.seconds);
  return { gemmFlops, rows: rows!, imagesPerSecond: gemmFlops / FLOP_PER_IMAGE };
}

interface Agreement {
  contestant: string;
  batch: number;
  images: number;
  maxAbsDifference: number;
  maxAbsReference: number;
  top1Agreement: number;
  /** Cosine of each image's 1000 logits with vitorch-sync's: the mean over the images, and the lowest. */
  cosineMean: number;
  cosineMin: number;
}

function readLogits(file: string): Float32Array {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    normA += a[i] * a[i];
    normB += b[i] * b[i];
  }
  return dot / Math.sqrt(normA * normB);
}

function compareLogits(reference: Float32Array, candidate: Float32Array): Omit<Agreement, 'contestant' | 'batch'> {
  const images = reference.length / CLASSES;
  let maxAbsDifference = 0;
  let maxAbsReference = 0;
  let sameTop1 = 0;
  const cosines: number[] = [];
  for (let i = 0; i < reference.length; i++) {
    maxAbsDifference = Math.max(maxAbsDifference, Math.abs(reference[i] - candidate[i]));
    maxAbsReference = Math.max(maxAbsReference, Math.abs(reference[i]));
  }
  for (let image = 0; image < images; image++) {
    const row = (logits: Float32Array) => logits.subarray(image * CLASSES, (image + 1) * CLASSES);
    if (argmax(row(reference)) === argmax(row(candidate))) sameTop1++;
    cosines.push(cosine(row(reference), row(candidate)));
  }
  return {
    images,
    maxAbsDifference,
    maxAbsReference,
    top1Agreement: sameTop1 / images,
    cosineMean: cosines.reduce((sum, value) => sum + value, 0) / images,
    cosineMin: Math.min(...cosines),
  };
}

// ---- the run -------------------------------------------------------------------------------------------------

function measureAll(
  options: Options,
  skipped: Map<string, string>,
  python: string,
  inputs: Map<number, string>,
  outputDir: string,
): Measurement[] {
  const measurements = new Map<string, Measurement>();
  for (const round of plan(options, skipped)) {
    for (const job of round.jobs) {
      const key = `${job.contestant}@${job.batch}`;
      let m = measurements.get(key);
      if (!m) {
        m = {
          contestant: job.contestant,
          batch: job.batch,
          warmup: job.warmup,
          repsPerRound: job.reps,
          rounds: 0,
          seconds: [],
          errors: [],
          reports: [],
        };
        if (isModel(job.contestant)) m.outputFile = path.join(outputDir, `${key}.f32`);
        measurements.set(key, m);
      }
      // A contestant that failed once at this batch fails the same way again: don't pay for its start-up twice.
      if (m.errors.length) continue;
      process.stderr.write(`[${round.label}] ${job.contestant}: ${job.warmup} warm-up + ${job.reps} timed ... `);
      const outcome = runContestant(job, {
        python,
        threads: options.threads,
        input: inputs.get(job.batch),
        outputFile: m.outputFile,
      });
      if (outcome.ok) {
        m.rounds++;
        m.seconds.push(...outcome.report.seconds);
        m.reports.push(outcome.report);
        process.stderr.write(`median ${(median(outcome.report.seconds) * 1000).toFixed(1)} ms\n`);
      } else {
        m.errors.push(outcome.error);
        process.stderr.write(`FAILED\n${outcome.error.replace(/^/gm, '    ')}\n`);
      }
    }
  }
  return [...measurements.values()];
}

function versionFrom(measurements: Measurement[], field: string): string | null {
  for (const m of measurements) for (const r of m.reports) if (typeof r[field] === 'string') return r[field] as string;
  return null;
}

function agreements(measurements: Measurement[]): Agreement[] {
  const result: Agreement[] = [];
  const usable = (m: Measurement) => !m.errors.length && m.outputFile !== undefined && fs.existsSync(m.outputFile);
  for (const reference of measurements.filter((m) => m.contestant === 'vitorch-sync' && usable(m))) {
    const referenceLogits = readLogits(reference.outputFile!);
    for (const m of measurements.filter((c) => c.batch === reference.batch && c !== reference && usable(c))) {
      result.push({
        contestant: m.contestant,
        batch: m.batch,
        ...compareLogits(referenceLogits, readLogits(m.outputFile!)),
      });
    }
  }
  return result;
}

// ---- report --------------------------------------------------------------------------------------------------

const ms = (seconds: number) => (seconds * 1000).toFixed(1);
const rate = (value: number) => (value >= 10 ? value.toFixed(1) : value.toFixed(2));
const percent = (fraction: number | undefined) => (fraction === undefined ? '-' : `${(fraction * 100).toFixed(1)}%`);
const times = (ratio: number | undefined) => (ratio === undefined ? '-' : `${ratio.toFixed(2)}x`);

/** A batch size's two rooflines: libtorch's float32 GEMM (the faster MKL form) and its oneDNN int8 GEMM. */
interface Rooflines {
  float32?: Roofline;
  int8?: Roofline;
}

/** A contestant's fraction of its own precision's roofline at its batch size, and which one that is. */
function rooflineFraction(m: Measurement, rooflines: Rooflines): { fraction?: number; precision: 'float32' | 'int8' } {
  const precision = rooflinePrecisionOf(m.contestant);
  const roofline = rooflines[precision];
  return { precision, fraction: roofline ? summarize(m).imagesPerSecond / roofline.imagesPerSecond : undefined };
}

function printTable(batch: number, rows: Measurement[], rooflines: Rooflines, vitorchSpeed: number | undefined): void {
  const { float32: roofline, int8 } = rooflines;
  console.log('');
  console.log(
    roofline
      ? `batch ${batch}: roofline = fp32 GEMM ${(roofline.gemmFlops / 1e9).toFixed(1)} GFLOP/s on M=${roofline.rows} rows` +
          ` / ${FLOP_PER_IMAGE / 1e9} GFLOP per image = ${rate(roofline.imagesPerSecond)} images/s`
      : `batch ${batch}: no roofline (gemm not run or failed)`,
  );
  if (rows.some((m) => rooflinePrecisionOf(m.contestant) === 'int8')) {
    console.log(
      int8
        ? `batch ${batch}: int8 roofline, "(i8)" below = int8 GEMM ${(int8.gemmFlops / 1e9).toFixed(1)} GOP/s / ` +
            `${FLOP_PER_IMAGE / 1e9} G operations per image = ${rate(int8.imagesPerSecond)} images/s`
        : `batch ${batch}: no int8 roofline (gemm-int8 not run or failed)`,
    );
  }
  const latency = batch === 1;
  console.log(
    latency
      ? `${'contestant'.padEnd(27)}  median ms     p90 ms  min-max ms               images/s  of roofline  vitorch-sync speed / its`
      : `${'contestant'.padEnd(27)}   images/s  min-max images/s          of roofline  vitorch-sync speed / its`,
  );
  for (const m of rows) {
    if (m.errors.length) {
      console.log(`${m.contestant.padEnd(27)}  FAILED (error above and in the JSON)`);
      continue;
    }
    const s = summarize(m);
    const { fraction, precision } = rooflineFraction(m, rooflines);
    const ofRoofline = `${percent(fraction)}${precision === 'int8' && fraction !== undefined ? ' (i8)' : ''}`;
    const ratio = vitorchSpeed === undefined ? undefined : vitorchSpeed / s.imagesPerSecond;
    if (latency) {
      console.log(
        `${m.contestant.padEnd(27)}  ${ms(s.medianSeconds).padStart(9)}  ${ms(s.p90Seconds).padStart(9)}  ` +
          `${`(${ms(s.minSeconds)}-${ms(s.maxSeconds)})`.padEnd(22)}  ${rate(s.imagesPerSecond).padStart(8)}  ` +
          `${ofRoofline.padStart(11)}  ${times(ratio).padStart(8)}`,
      );
    } else {
      console.log(
        `${m.contestant.padEnd(27)}  ${rate(s.imagesPerSecond).padStart(9)}  ` +
          `${`(${rate(s.minImagesPerSecond)}-${rate(s.maxImagesPerSecond)})`.padEnd(24)}  ${ofRoofline.padStart(11)}  ` +
          `${times(ratio).padStart(8)}`,
      );
    }
  }
}

function printAgreements(list: Agreement[]): void {
  if (!list.length) return;
  console.log('');
  console.log(
    "agreement with vitorch-sync (float32) on the same images; cosine of each image's logits, mean and lowest",
  );
  console.log(
    `${'contestant'.padEnd(27)}  batch  max |logit diff|  / max |logit|  top-1 agreement  cosine mean  lowest`,
  );
  for (const a of list) {
    console.log(
      `${a.contestant.padEnd(27)}  ${String(a.batch).padStart(5)}  ${a.maxAbsDifference.toExponential(2).padStart(16)}  ` +
        `${(a.maxAbsDifference / a.maxAbsReference).toExponential(2).padStart(13)}  ` +
        `${`${(a.top1Agreement * 100).toFixed(1)}% of ${a.images}`.padStart(15)}  ` +
        `${a.cosineMean.toFixed(6).padStart(11)}  ${a.cosineMin.toFixed(6)}`,
    );
  }
}

/** openvino-bf16 is native bfloat16 only where the CPU computes in it: says what it was where it was not. */
function printOpenvinoPrecision(measurements: Measurement[]): void {
  const reports = measurements.filter((m) => m.contestant === OPENVINO_BF16).flatMap((m) => m.reports);
  const precisions = [...new Set(reports.map((r) => r.inferencePrecision))];
  if (!precisions.length || (CPU_COMPUTES_BF16 && precisions.join() === 'bf16')) return;
  console.log('');
  console.log(
    precisions.join() === 'bf16'
      ? `${OPENVINO_BF16}: bfloat16 emulated (this CPU has AVX-512 but neither AVX-512 BF16 nor AMX-BF16)`
      : `${OPENVINO_BF16} ran in ${precisions.join(', ')}: OpenVINO takes the bf16 hint only on CPUs with AVX-512`,
  );
}

/** One contestant at one batch size as bench/results/inference.json records it: raw samples and the summary. */
function resultEntry(
  m: Measurement,
  rooflines: Rooflines,
  bf16Roofline: Roofline | undefined,
  vitorchSpeed: number | undefined,
): Record<string, unknown> {
  const { outputFile: _outputFile, reports: _reports, ...raw } = m;
  const entry: Record<string, unknown> = { ...raw, failed: m.errors.length > 0 };
  if (m.errors.length || !m.seconds.length) return entry;
  const { medianSeconds, p90Seconds, minSeconds, maxSeconds, ...speed } = summarize(m);
  Object.assign(entry, { medianSeconds, p90Seconds, minSeconds, maxSeconds });
  if (!isModel(m.contestant)) {
    // A GEMM's rate is in FLOP/s; images/s of one block's linears would mean nothing.
    const own = rooflineOf(m)!;
    return Object.assign(entry, {
      gemmFlops: own.gemmFlops,
      rows: own.rows,
      rooflineImagesPerSecond: own.imagesPerSecond,
    });
  }
  const { fraction, precision } = rooflineFraction(m, rooflines);
  Object.assign(entry, speed, {
    rooflinePrecision: precision,
    rooflineFraction: fraction ?? null,
    vitorchSyncSpeedRatio: vitorchSpeed === undefined ? null : vitorchSpeed / speed.imagesPerSecond,
  });
  // gemm-bf16 ran on one image's rows, so it bounds bfloat16 inference at batch 1 only.
  if (BF16_MODELS.includes(m.contestant) && m.batch === 1) {
    entry.bf16RooflineFraction = bf16Roofline ? speed.imagesPerSecond / bf16Roofline.imagesPerSecond : null;
  }
  return entry;
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const python = findPython();
  const selected = ALL_CONTESTANTS.filter((c) => isSelected(c, options));
  ensureCheckpoint(python);
  if (selected.some((c) => ONNX_CONTESTANTS.includes(c))) {
    runSetupStep(python, ['export_onnx.py', '--weights', checkpoint, '--out', onnxModel], 'export the model to ONNX');
  }
  const skipped = prepareInt8Models(python, selected, onnxModel);
  const inputs = writeInputs(options.batches);
  const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-bench-'));
  let measurements: Measurement[];
  let agreementList: Agreement[];
  try {
    measurements = measureAll(options, skipped, python, inputs, outputDir);
    agreementList = agreements(measurements);
  } finally {
    fs.rmSync(outputDir, { recursive: true, force: true });
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const torchVersion = versionFrom(measurements, 'torchVersion');
  const libtorchVersion = versionFrom(measurements, 'libtorchVersion');
  const onnxruntimeVersion = versionFrom(measurements, 'onnxruntimeVersion');
  const openvinoVersion = versionFrom(measurements, 'openvinoVersion');
  console.log(
    `ViT-B/16 inference, ${options.threads} threads, ${cpu} (${os.cpus().length} logical CPUs); ` +
      `torch ${torchVersion ?? '-'}, vitorch's libtorch ${libtorchVersion ?? '-'}, onnxruntime ${onnxruntimeVersion ?? '-'}` +
      `, OpenVINO ${openvinoVersion ?? '-'}`,
  );

  const rooflines = new Map<number, Roofline | undefined>();
  const int8Rooflines = new Map<number, Roofline | undefined>();
  const bf16Roofline = rooflineOf(measurements.find((m) => m.contestant === GEMM_BF16));
  const byBatch = [...new Set(measurements.map((m) => m.batch))].sort((a, b) => a - b);
  const results: Record<string, unknown>[] = [];
  for (const batch of byBatch) {
    const atBatch = measurements.filter((m) => m.batch === batch);
    // The roofline is the faster of libtorch's two GEMM forms here, the one vitorch runs included.
    const roofline = [
      rooflineOf(atBatch.find((m) => m.contestant === 'gemm')),
      rooflineOf(atBatch.find((m) => m.contestant === 'gemm' + FEATURE_DISPATCH_SUFFIX)),
    ]
      .filter((r): r is Roofline => r !== undefined)
      .sort((a, b) => b.gemmFlops - a.gemmFlops)[0];
    rooflines.set(batch, roofline);
    const int8Roofline = rooflineOf(atBatch.find((m) => m.contestant === GEMM_INT8));
    int8Rooflines.set(batch, int8Roofline);
    const vitorch = atBatch.find((m) => m.contestant === 'vitorch-sync' && !m.errors.length);
    const vitorchSpeed = vitorch ? summarize(vitorch).imagesPerSecond : undefined;
    const models = atBatch.filter((m) => isModel(m.contestant));
    printTable(batch, models, { float32: roofline, int8: int8Roofline }, vitorchSpeed);
    for (const m of atBatch) {
      results.push(resultEntry(m, { float32: roofline, int8: int8Roofline }, bf16Roofline, vitorchSpeed));
    }
  }
  for (const [contestant, reason] of skipped) console.log(`${contestant.padEnd(27)}  SKIPPED: ${reason}`);
  printOpenvinoPrecision(measurements);
  if (measurements.some((m) => m.contestant === GEMM_BF16)) {
    console.log('');
    console.log(
      bf16Roofline
        ? `bf16 GEMM: ${(bf16Roofline.gemmFlops / 1e9).toFixed(1)} GFLOP/s on M=${bf16Roofline.rows} rows, ` +
            `a bf16 roofline of ${rate(bf16Roofline.imagesPerSecond)} images/s`
        : 'bf16 GEMM: FAILED (error above and in the JSON)',
    );
  }
  printAgreements(agreementList);

  writeResults(
    resultsFile,
    {
      date: new Date().toISOString(),
      cpu,
      logicalCpus: os.cpus().length,
      threads: options.threads,
      cpuComputesBf16: CPU_COMPUTES_BF16,
      platform: `${os.platform()} ${os.arch()}`,
      nodeVersion: process.version,
      torchVersion,
      libtorchVersion,
      onnxruntimeVersion,
      openvinoVersion,
      options,
      flopPerImage: FLOP_PER_IMAGE,
      roofline: Object.fromEntries([...rooflines].map(([batch, r]) => [batch, r ?? null])),
      int8Roofline: Object.fromEntries([...int8Rooflines].map(([batch, r]) => [batch, r ?? null])),
      skipped: Object.fromEntries(skipped),
      results,
      agreement: agreementList,
    },
    { blankLineBefore: true },
  );
}

runMain('inference', main);
