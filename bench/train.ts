// Training-step speed: vitorch's native whole step (Trainer.step: forward, label-smoothed cross-entropy, backward,
// AdamW) against the article's model in PyTorch eager as the article writes it, and against PyTorch eager at its best, with
// the same weights, batch, thread count and optimizer, side by side in one run. The PyTorch contestants live in one
// long-lived child process (bench/train_torch.py) so that the contestants can take turns round by round: noise on a
// shared machine then hits them all alike. Prints a table per configuration and writes bench/results/train.json.
//
//   npm run bench:train -- [--quick] [--threads N] [--rounds N] [--steps N] [--warmup N] [--only a,b]
//                          [--autocast bfloat16] [--main-thread]
//   node dist/bench/train.js ...
//
// See bench/README.md ("Training") for what each contestant is.
import { ChildProcessByStdio, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createInterface } from 'readline';
import type { Readable, Writable } from 'stream';
import {
  adamw,
  crossEntropy,
  getNumThreads,
  libtorchVersion,
  manualSeed,
  setNumThreads,
  tensor,
  Tensor,
  Trainer,
  vit,
  VisionTransformer,
} from '../lib';
import type { VisionTransformerOptions } from '../lib';
import { findPython, seededNormals } from './bench-inputs';
import { featureDispatchLibrary, vendorDispatchDiffers } from './feature-dispatch';
import { describeCpu } from './cpu';
import { writeResults } from './results';
import { choiceFlag, choiceListFlag, integerFlag, parseArgs, runMain } from './run-main';

const root = path.join(__dirname, '..', '..');
const checkpoint = path.join(root, 'model_data', 'vit-patch_16.pth');
const torchScript = path.join(root, 'bench', 'train_torch.py');
const resultsFile = path.join(root, 'bench', 'results', 'train.json');

// The issue's training recipe, the same on both sides.
const LR = 2e-3;
const WEIGHT_DECAY = 0.05;
const LABEL_SMOOTHING = 0.1;
// Images whose evaluation-mode logits are compared across vitorch and the article model before anything is timed.
const CHECK_IMAGES = 2;
// Same weights, same float32 model: agreement to float32 reassociation, relative to the largest logit.
const SAME_MODEL_TOLERANCE = 1e-4;
const INPUT_SEED = 28;

interface Configuration {
  name: string;
  title: string;
  batch: number;
  /** Model options for `new VisionTransformer`; absent for the ViT-B/16 fine-tuning ones, built by vit(). */
  model?: VisionTransformerOptions;
  /** The article's freeze phase: freezeBackbone() before the optimizer runs. */
  freeze: boolean;
  /** Steps per contestant: warm-up, then per round; the full run's and --quick's. */
  warmup: [number, number];
  rounds: [number, number];
  steps: [number, number];
}

const FASHION_MNIST_MODEL: VisionTransformerOptions = {
  inputShape: [28, 28],
  patchSize: 4,
  inChans: 1,
  numClasses: 10,
  numFeatures: 64,
  depth: 6,
  numHeads: 4,
  mlpRatio: 2,
};
const SEED_DROPOUTS = { dropRate: 0.1, attnDropRate: 0.1, dropPathRate: 0.1 };
const NO_DROPOUT = { dropRate: 0, attnDropRate: 0, dropPathRate: 0 };

// A Fashion-MNIST step takes tens of milliseconds, a ViT-B/16 one seconds: the step counts keep each
// configuration's timed work in the same range.
const CONFIGURATIONS: Configuration[] = [
  {
    name: 'fmnist-dropout',
    title: "Fashion-MNIST model, batch 128, the article's dropouts (0.1, 0.1, 0.1)",
    batch: 128,
    model: { ...FASHION_MNIST_MODEL, ...SEED_DROPOUTS },
    freeze: false,
    warmup: [5, 2],
    rounds: [7, 3],
    steps: [10, 3],
  },
  {
    name: 'fmnist',
    title: 'Fashion-MNIST model, batch 128, no dropout (examples/fashion-mnist.json)',
    batch: 128,
    model: { ...FASHION_MNIST_MODEL, ...NO_DROPOUT },
    freeze: false,
    warmup: [5, 2],
    rounds: [7, 3],
    steps: [10, 3],
  },
  {
    name: 'vitb16',
    title: 'ViT-B/16 fine-tuning (10-class head), batch 8, dropouts 0.1',
    batch: 8,
    freeze: false,
    warmup: [1, 1],
    rounds: [5, 1],
    steps: [2, 1],
  },
  {
    name: 'vitb16-frozen',
    title: "ViT-B/16 fine-tuning, freezeBackbone() (the article's freeze phase), batch 8, dropouts 0.1",
    batch: 8,
    freeze: true,
    warmup: [1, 1],
    rounds: [5, 1],
    steps: [2, 1],
  },
];

interface Options {
  quick: boolean;
  threads: number;
  rounds?: number;
  steps?: number;
  warmup?: number;
  only?: string[];
  autocast: 'bfloat16' | null;
  /** Also time vitorch's step on the main thread (a diagnostic: it blocks the event loop). */
  mainThread: boolean;
}

function parseOptions(argv: string[]): Options {
  // Two threads unless told otherwise: the issue's thread count, and this machine's core count when it was written.
  const parsed = parseArgs(
    argv,
    ['threads', 'rounds', 'steps', 'warmup', 'autocast', 'only'],
    ['quick', 'main-thread'],
    { overrides: false, positionals: false },
  );
  return {
    quick: parsed.flags.has('quick'),
    threads: integerFlag(parsed, 'threads') ?? 2,
    rounds: integerFlag(parsed, 'rounds'),
    steps: integerFlag(parsed, 'steps'),
    warmup: integerFlag(parsed, 'warmup'),
    only: choiceListFlag(
      parsed,
      'only',
      CONFIGURATIONS.map((c) => c.name),
    ),
    autocast: choiceFlag(parsed, 'autocast', ['bfloat16'] as const) ?? null,
    mainThread: parsed.flags.has('main-thread'),
  };
}

// ---- inputs ----------------------------------------------------------------------------------------------------

const asBytes = (array: Float32Array | Int32Array) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

// ---- the PyTorch child -----------------------------------------------------------------------------------------

interface StepsReport {
  seconds: number[];
  losses: number[];
}
interface SetupReport {
  torchVersion: string;
  threads: number;
  seedAdamW: string;
  bestAdamW: string;
}

/** bench/train_torch.py as a request/answer channel: one JSON line out, one JSON line back. */
class TorchChild {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: { resolve(line: string): void; reject(error: Error): void }[] = [];
  private exited: Error | null = null;

  constructor(python: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(python, [torchScript], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'], env });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.resolve(line));
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`bench/train_torch.py exited (${signal ?? `code ${code}`}); its stderr is above`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  request<T>(command: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    }).then((line) => JSON.parse(line) as T);
  }

  close(): void {
    if (!this.exited) this.child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}

/** reference_vit.VisionTransformer's keyword arguments for the model vitorch built (defaults filled in by vitorch,
 *  so both sides build from one description). */
function referenceKwargs(o: Required<VisionTransformerOptions>): Record<string, unknown> {
  return {
    input_shape: o.inputShape,
    patch_size: o.patchSize,
    in_chans: o.inChans,
    num_classes: o.numClasses,
    num_features: o.numFeatures,
    depth: o.depth,
    num_heads: o.numHeads,
    mlp_ratio: o.mlpRatio,
    qkv_bias: o.qkvBias,
    drop_rate: o.dropRate,
    attn_drop_rate: o.attnDropRate,
    drop_path_rate: o.dropPathRate,
  };
}

// ---- statistics ------------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const middle = Math.floor(s.length / 2);
  return s.length % 2 ? s[middle] : (s[middle - 1] + s[middle]) / 2;
}

// ---- one configuration -----------------------------------------------------------------------------------------

/** A contestant as the rounds see it: a name and a way to run N timed steps. */
interface Contestant {
  name: string;
  /** Contestants of one group train one shared model (the best-eager variants of one PyTorch process). */
  group?: string;
  run(steps: number): Promise<StepsReport>;
}

interface ContestantResult {
  name: string;
  seconds: number[];
  /** Loss of the first warm-up step: the same weights and batch give the same loss where nothing is random. Null
   *  for the best-eager variants that run on weights their sibling has already updated. */
  firstLoss: number | null;
  medianMs: number;
  minMs: number;
  maxMs: number;
  imagesPerSecond: number;
}

function vitorchContestant(name: string, trainer: Trainer, images: Tensor, labels: Tensor): Contestant {
  return {
    name,
    async run(steps) {
      const seconds: number[] = [];
      const losses: number[] = [];
      for (let i = 0; i < steps; i++) {
        const started = performance.now();
        const result = await trainer.step(images, labels);
        seconds.push((performance.now() - started) / 1000);
        losses.push(result.loss);
      }
      return { seconds, losses };
    },
  };
}

/** The same step through vitorch's autograd API on the calling (main) thread, to tell the step's own cost from
 *  where it runs (a diagnostic: it blocks the event loop). In this process the libuv thread has run libtorch work too,
 *  so libgomp keeps a thread team for each; see bench/README.md for what that costs. */
function mainThreadContestant(
  name: string,
  model: VisionTransformer,
  trainer: Trainer,
  images: Tensor,
  labels: Tensor,
): Contestant {
  return {
    name,
    async run(steps) {
      const seconds: number[] = [];
      const losses: number[] = [];
      for (let i = 0; i < steps; i++) {
        const started = performance.now();
        const logits = model.forward(images);
        const loss = crossEntropy(logits, labels, { labelSmoothing: LABEL_SMOOTHING });
        losses.push(loss.item());
        loss.backward();
        trainer.update();
        logits.argmax(1).dispose(); // the batch's hits, as Trainer.step counts them
        seconds.push((performance.now() - started) / 1000);
        logits.dispose();
        loss.dispose();
      }
      return { seconds, losses };
    },
  };
}

/** A contestant of bench/train_torch.py; `suffix` names the process variant (its own model and optimizer). */
function torchContestant(name: string, child: TorchChild, suffix = ''): Contestant {
  return {
    name: name + suffix,
    group: name.startsWith('best-eager') ? `best-eager${suffix}` : undefined,
    run: (steps) => child.request<StepsReport>({ cmd: 'steps', contestant: name, steps }),
  };
}

// The PyTorch process with MKL told to dispatch its kernels by CPU features (bench/feature-dispatch.ts).
const FEATURE_DISPATCH = '-feature-dispatch';

function buildModel(configuration: Configuration, python: string): VisionTransformer {
  manualSeed(0);
  if (configuration.model) return new VisionTransformer(configuration.model);
  if (!fs.existsSync(checkpoint)) {
    const made = spawnSync(python, ['make_demo_checkpoint.py', checkpoint], {
      cwd: path.join(root, 'tools'),
      stdio: 'inherit',
    });
    if (made.status !== 0) throw new Error('could not write the benchmark checkpoint');
  }
  // The article's fine-tuning start: its ImageNet checkpoint with a fresh 10-class head, dropouts at its defaults.
  return vit({ pretrained: checkpoint, numClasses: 10 });
}

function readFloats(file: string): Float32Array {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

interface ConfigurationResult {
  name: string;
  title: string;
  batch: number;
  freeze: boolean;
  warmup: number;
  rounds: number;
  stepsPerRound: number;
  torch: SetupReport;
  logitsAgreement: { maxAbsDifference: number; maxAbsLogit: number };
  contestants: ContestantResult[];
  bestAttention: { float32: string; bfloat16?: string };
  ratios: Record<string, number>;
}

async function runConfiguration(
  configuration: Configuration,
  options: Options,
  child: TorchChild,
  dispatchChild: TorchChild | null,
  python: string,
  workDir: string,
): Promise<ConfigurationResult> {
  const pick = (pair: [number, number]) => (options.quick ? pair[1] : pair[0]);
  const warmup = options.warmup ?? pick(configuration.warmup);
  const rounds = options.rounds ?? pick(configuration.rounds);
  const stepsPerRound = options.steps ?? pick(configuration.steps);
  console.log(`\n${configuration.title}`);

  const model = buildModel(configuration, python);
  const modelOptions = model.options;
  const { batch } = configuration;
  const imageShape = [batch, modelOptions.inChans, ...modelOptions.inputShape];
  const values = seededNormals(
    imageShape.reduce((a, b) => a * b),
    INPUT_SEED,
  );
  const labelValues = Int32Array.from({ length: batch }, (_, i) => (i * 7) % modelOptions.numClasses);
  const files = {
    weights: path.join(workDir, `${configuration.name}.pth`),
    images: path.join(workDir, `${configuration.name}.f32`),
    labels: path.join(workDir, `${configuration.name}.i32`),
    logits: path.join(workDir, `${configuration.name}-logits.f32`),
  };
  model.saveStateDict(files.weights);
  fs.writeFileSync(files.images, asBytes(values));
  fs.writeFileSync(files.labels, asBytes(labelValues));
  const images = tensor(values, imageShape);
  const labels = tensor(labelValues, [batch]);

  const setup = {
    cmd: 'setup',
    model: referenceKwargs(modelOptions),
    weights: files.weights,
    images: files.images,
    labels: files.labels,
    batch,
    threads: options.threads,
    freeze: configuration.freeze,
    lr: LR,
    weightDecay: WEIGHT_DECAY,
    labelSmoothing: LABEL_SMOOTHING,
    checkLogits: files.logits,
    checkImages: CHECK_IMAGES,
  };
  const torchSetup = await child.request<SetupReport>(setup);
  if (dispatchChild) await dispatchChild.request<SetupReport>({ ...setup, checkLogits: `${files.logits}.dispatch` });
  // Same model before anything is timed: vitorch's evaluation-mode logits against the article model's.
  const sample = tensor(values.subarray(0, CHECK_IMAGES * imageShape.slice(1).reduce((a, b) => a * b)), [
    CHECK_IMAGES,
    ...imageShape.slice(1),
  ]);
  const ours = model.eval().forward(sample).toFloat32Array();
  const theirs = readFloats(files.logits);
  let maxAbsDifference = 0;
  let maxAbsLogit = 0;
  ours.forEach((v, i) => {
    maxAbsDifference = Math.max(maxAbsDifference, Math.abs(v - theirs[i]));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(theirs[i]));
  });
  if (!(maxAbsDifference <= SAME_MODEL_TOLERANCE * maxAbsLogit)) {
    throw new Error(
      `${configuration.name}: vitorch's logits differ from the article model's by ${maxAbsDifference} ` +
        `(max |logit| ${maxAbsLogit}): not the same model, nothing to compare`,
    );
  }

  const models = [model];
  const trainerOn = (m: VisionTransformer, autocast: 'bfloat16' | null) => {
    m.train();
    if (configuration.freeze) m.freezeBackbone();
    return new Trainer(m, {
      optimizer: adamw(m, { lr: LR, weightDecay: WEIGHT_DECAY }),
      labelSmoothing: LABEL_SMOOTHING,
      autocast,
    });
  };
  const contestants: Contestant[] = [
    vitorchContestant('vitorch', trainerOn(model, null), images, labels),
    torchContestant('seed-eager', child),
    torchContestant('best-eager-sdpa', child),
    torchContestant('best-eager-explicit', child),
  ];
  if (dispatchChild) {
    contestants.push(
      torchContestant('best-eager-sdpa', dispatchChild, FEATURE_DISPATCH),
      torchContestant('best-eager-explicit', dispatchChild, FEATURE_DISPATCH),
    );
  }
  if (options.mainThread) {
    const copy = buildModel(configuration, python);
    copy.loadStateDict(files.weights);
    models.push(copy);
    contestants.push(mainThreadContestant('vitorch-main-thread', copy, trainerOn(copy, null), images, labels));
  }
  if (options.autocast) {
    // Its own copy of the weights and optimizer: the float32 contestant's state stays its own.
    const copy = buildModel(configuration, python);
    copy.loadStateDict(files.weights);
    models.push(copy);
    contestants.push(
      vitorchContestant('vitorch-bf16', trainerOn(copy, 'bfloat16'), images, labels),
      torchContestant('best-eager-sdpa-bf16', child),
      torchContestant('best-eager-explicit-bf16', child),
    );
  }

  const seconds = new Map<string, number[]>(contestants.map((c) => [c.name, []]));
  const firstLoss = new Map<string, number>();
  try {
    for (const c of contestants) {
      const report = await c.run(warmup);
      // The contestants of a group share one model: only the first of them starts from the common weights.
      const sharesUpdatedWeights =
        c.group !== undefined && contestants.some((o) => o.group === c.group && firstLoss.has(o.name));
      if (!sharesUpdatedWeights) firstLoss.set(c.name, report.losses[0]);
    }
    for (let round = 0; round < rounds; round++) {
      // Alternating the order: no contestant always runs right after the same neighbour (whose threads may
      // still be winding down, whose memory traffic may still be in the caches).
      const order = round % 2 === 0 ? contestants : [...contestants].reverse();
      for (const c of order) seconds.get(c.name)!.push(...(await c.run(stepsPerRound)).seconds);
      if (process.stdout.isTTY) process.stdout.write(`  round ${round + 1}/${rounds} done\r`);
    }
  } finally {
    images.dispose();
    labels.dispose();
    sample.dispose();
    for (const m of models) m.dispose();
  }

  const results: ContestantResult[] = contestants.map((c) => {
    const s = seconds.get(c.name)!;
    const medianSeconds = median(s);
    return {
      name: c.name,
      seconds: s,
      firstLoss: firstLoss.get(c.name) ?? null,
      medianMs: medianSeconds * 1000,
      minMs: Math.min(...s) * 1000,
      maxMs: Math.max(...s) * 1000,
      imagesPerSecond: batch / medianSeconds,
    };
  });
  const byName = (name: string) => results.find((r) => r.name === name)!;
  const faster = (a: string, b: string) => (byName(a).medianMs <= byName(b).medianMs ? a : b);
  // PyTorch at its best: the faster attention form, and on non-Intel CPUs the faster MKL dispatch too.
  const bestFloat32 = ['best-eager-sdpa', 'best-eager-explicit'].flatMap((n) =>
    dispatchChild ? [n, n + FEATURE_DISPATCH] : [n],
  );
  const bestAttention: ConfigurationResult['bestAttention'] = { float32: bestFloat32.reduce(faster) };
  const ratios: Record<string, number> = {
    'vitorch/seed-eager': byName('vitorch').imagesPerSecond / byName('seed-eager').imagesPerSecond,
    'vitorch/best-eager': byName('vitorch').imagesPerSecond / byName(bestAttention.float32).imagesPerSecond,
  };
  if (options.autocast) {
    bestAttention.bfloat16 = faster('best-eager-sdpa-bf16', 'best-eager-explicit-bf16');
    ratios['vitorch-bf16/best-eager-bf16'] =
      byName('vitorch-bf16').imagesPerSecond / byName(bestAttention.bfloat16).imagesPerSecond;
    ratios['vitorch-bf16/vitorch'] = byName('vitorch-bf16').imagesPerSecond / byName('vitorch').imagesPerSecond;
  }
  const result: ConfigurationResult = {
    name: configuration.name,
    title: configuration.title,
    batch,
    freeze: configuration.freeze,
    warmup,
    rounds,
    stepsPerRound,
    torch: torchSetup,
    logitsAgreement: { maxAbsDifference, maxAbsLogit },
    contestants: results,
    bestAttention,
    ratios,
  };
  printConfiguration(result);
  return result;
}

// ---- report ----------------------------------------------------------------------------------------------------

const fixed = (value: number, digits = 1) => value.toFixed(digits);

function printConfiguration(r: ConfigurationResult): void {
  console.log(
    `  ${r.rounds} rounds of ${r.stepsPerRound} steps per contestant after ${r.warmup} warm-up steps; ` +
      `AdamW: seed-eager ${r.torch.seedAdamW}, best-eager ${r.torch.bestAdamW}, vitorch ATen's fused kernel (fused: true); ` +
      `logits agree to ${r.logitsAgreement.maxAbsDifference.toExponential(1)} (max |logit| ${fixed(r.logitsAgreement.maxAbsLogit, 2)})`,
  );
  console.log(
    `  ${'contestant'.padEnd(38)} ${'median ms/step'.padStart(14)}  ${'min-max ms'.padEnd(20)} ${'images/s'.padStart(9)}  first-step loss`,
  );
  for (const c of r.contestants) {
    const chosen = c.name === r.bestAttention.float32 || c.name === r.bestAttention.bfloat16 ? ' *' : '';
    console.log(
      `  ${(c.name + chosen).padEnd(38)} ${fixed(c.medianMs).padStart(14)}  ` +
        `${`(${fixed(c.minMs)}-${fixed(c.maxMs)})`.padEnd(20)} ${fixed(c.imagesPerSecond).padStart(9)}  ${c.firstLoss?.toFixed(5) ?? '-'}`,
    );
  }
  console.log(`  * the faster attention form, best-eager's figure`);
  for (const [name, ratio] of Object.entries(r.ratios))
    console.log(`  ${name.padEnd(30)} ${ratio.toFixed(2)}x (speed ratio, above 1 vitorch is faster)`);
}

function printSummary(results: ConfigurationResult[]): void {
  console.log('\nsummary (goal: vitorch/seed-eager >= 1.30x, vitorch/best-eager >= 1.00x)');
  console.log(
    `  ${'configuration'.padEnd(16)} ${'vitorch ms'.padStart(10)} ${'seed ms'.padStart(9)} ${'best ms'.padStart(9)}` +
      `  ${'vs seed'.padStart(7)} ${'vs best'.padStart(7)}  best attention`,
  );
  for (const r of results) {
    const ms = (name: string) => fixed(r.contestants.find((c) => c.name === name)!.medianMs);
    console.log(
      `  ${r.name.padEnd(16)} ${ms('vitorch').padStart(10)} ${ms('seed-eager').padStart(9)} ` +
        `${ms(r.bestAttention.float32).padStart(9)}  ${`${r.ratios['vitorch/seed-eager'].toFixed(2)}x`.padStart(7)} ` +
        `${`${r.ratios['vitorch/best-eager'].toFixed(2)}x`.padStart(7)}  ${r.bestAttention.float32.replace('best-eager-', '')}`,
    );
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cpu = describeCpu();
  if (options.autocast && !cpu.avx512Bf16) {
    console.log(
      `--autocast bfloat16 skipped: this CPU has no AVX-512 BF16, where bfloat16 is many times slower than float32`,
    );
    options.autocast = null;
  }
  setNumThreads(options.threads);
  const python = findPython();
  const configurations = CONFIGURATIONS.filter((c) => !options.only || options.only.includes(c.name));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-bench-train-'));
  const child = new TorchChild(python);
  const dispatchChild = vendorDispatchDiffers()
    ? new TorchChild(python, { ...process.env, LD_PRELOAD: featureDispatchLibrary() })
    : null;
  const results: ConfigurationResult[] = [];
  try {
    console.log(
      `training steps, ${getNumThreads()} threads on both sides, ${cpu.model} (${cpu.logicalCpus} logical CPUs, ` +
        `AVX-512 BF16 ${cpu.avx512Bf16 ? 'yes' : 'no'}, AMX BF16 ${cpu.amxBf16 ? 'yes' : 'no'}); vitorch's libtorch ${libtorchVersion}; ` +
        `AdamW lr ${LR} weight decay ${WEIGHT_DECAY}, label smoothing ${LABEL_SMOOTHING}${options.quick ? '; --quick' : ''}`,
    );
    for (const configuration of configurations)
      results.push(await runConfiguration(configuration, options, child, dispatchChild, python, workDir));
  } finally {
    child.close();
    dispatchChild?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  printSummary(results);
  writeResults(
    resultsFile,
    {
      date: new Date().toISOString(),
      cpu,
      threads: options.threads,
      platform: `${os.platform()} ${os.arch()}`,
      nodeVersion: process.version,
      libtorchVersion,
      torchVersion: results[0]?.torch.torchVersion ?? null,
      options,
      recipe: { optimizer: 'AdamW', lr: LR, weightDecay: WEIGHT_DECAY, labelSmoothing: LABEL_SMOOTHING },
      results,
    },
    { blankLineBefore: true },
  );
}

runMain('train', main);
