// Data-parallel training on two processes of one machine: vitorch's (initProcessGroup + a Trainer with a
// processGroup: c10d's Gloo and DistributedDataParallel's Reducer) against PyTorch's own (torch.distributed +
// DistributedDataParallel on tools/reference_vit.py's model), over loopback, side by side in one run.
//
//   npm run bench:distributed -- [--quick] [--only allreduce,fmnist,vitb16,vitb16-b1] [--rounds N] [--steps N]
//                                [--warmup N] [--reps N]
//   node dist/bench/distributed.js ...
//
// Two long-lived ranks per side (bench/distributed-node.ts, bench/distributed_torch.py: the same JSON commands on
// stdin), each started like torchrun's workers (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) with OMP_NUM_THREADS=1.
// The contestants take turns round by round, the order reversed every other round, so that noise on a shared machine
// hits them alike. Prints a table per configuration and writes bench/results/distributed.json. See bench/README.md
// ("Data-parallel training").
import { ChildProcessByStdio, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createInterface } from 'readline';
import type { Readable, Writable } from 'stream';
import type { VisionTransformerOptions } from '../lib';
import { findPython, root, seededNormals } from './bench-inputs';
import { describeCpu } from './cpu';
import { featureDispatchLibrary, vendorDispatchDiffers } from './feature-dispatch';
import { freePort } from './free-port';
import { writeResults } from './results';
import { choiceListFlag, integerFlag, parseArgs, runMain } from './run-main';
import { median } from './stats';

const resultsFile = path.join(root, 'bench', 'results', 'distributed.json');
const WORLD_SIZE = 2;
const LR = 2e-3;
const WEIGHT_DECAY = 0.05;
const LABEL_SMOOTHING = 0.1;
const INPUT_SEED = 28;
// The first data-parallel step of both sides runs on the same weights and batches: its loss over both ranks agrees
// to float32 reassociation.
const SAME_LOSS_TOLERANCE = 1e-4;

// No dropout anywhere (examples/fashion-mnist.json's setting): with nothing random in a step, both sides' first
// losses can be compared, and dropout's mask drawing is per-process work that says nothing about data parallelism.
const NO_DROPOUT = { dropRate: 0, attnDropRate: 0, dropPathRate: 0 };
const FASHION_MNIST: VisionTransformerOptions = {
  inputShape: [28, 28],
  patchSize: 4,
  inChans: 1,
  numClasses: 10,
  numFeatures: 64,
  depth: 6,
  numHeads: 4,
  mlpRatio: 2,
  ...NO_DROPOUT,
};
// ViT-B/16 as new VisionTransformer() makes it (224x224, 16x16 patches, 768 wide, 12 blocks of 12 heads, 1000
// classes): 86.6 M parameters, 346 MB of float32 gradients.
const VIT_B16: Required<VisionTransformerOptions> = {
  inputShape: [224, 224],
  patchSize: 16,
  inChans: 3,
  numClasses: 1000,
  numFeatures: 768,
  depth: 12,
  numHeads: 12,
  mlpRatio: 4,
  qkvBias: true,
  activation: 'gelu-tanh',
  layerNormEps: 1e-6,
  ...NO_DROPOUT,
};

interface Configuration {
  name: string;
  title: string;
  model: VisionTransformerOptions;
  /** Images per process in the 2x1 runs; 1x2 steps on both ranks' batches (the same global batch). */
  batch: number;
  /** Untimed steps per contestant (a data-parallel one takes at least 2), then rounds x steps timed; the full
   *  run's and --quick's. */
  warmup: [number, number];
  rounds: [number, number];
  steps: [number, number];
  /** Timed all-reduces per round of the all-reduce-alone contestant. */
  reps: [number, number];
}

const CONFIGURATIONS: Configuration[] = [
  {
    name: 'fmnist',
    title: 'Fashion-MNIST model (examples/fashion-mnist.json), global batch 128',
    model: FASHION_MNIST,
    batch: 64,
    warmup: [5, 3],
    rounds: [3, 2],
    steps: [10, 5],
    reps: [20, 10],
  },
  {
    name: 'vitb16',
    title: 'ViT-B/16 (1000 classes, no dropout), global batch 16',
    model: VIT_B16,
    batch: 8,
    warmup: [1, 1],
    rounds: [2, 1],
    steps: [2, 1],
    reps: [3, 2],
  },
  {
    name: 'vitb16-b1',
    title: 'ViT-B/16, global batch 2: a step whose all-reduce is a large share',
    model: VIT_B16,
    batch: 1,
    warmup: [2, 1],
    rounds: [2, 1],
    steps: [3, 2],
    reps: [3, 2],
  },
];
const PART_NAMES = ['allreduce', ...CONFIGURATIONS.map((c) => c.name)] as const;

interface Options {
  quick: boolean;
  only: string[] | null;
  rounds?: number;
  steps?: number;
  warmup?: number;
  reps?: number;
}

function parseOptions(argv: string[]): Options {
  const parsed = parseArgs(argv, ['only', 'rounds', 'steps', 'warmup', 'reps'], ['quick'], {
    overrides: false,
    positionals: false,
  });
  return {
    quick: parsed.flags.has('quick'),
    only: choiceListFlag(parsed, 'only', PART_NAMES) ?? null,
    rounds: integerFlag(parsed, 'rounds'),
    steps: integerFlag(parsed, 'steps'),
    warmup: integerFlag(parsed, 'warmup', 0),
    reps: integerFlag(parsed, 'reps'),
  };
}

// ---- the ranks -------------------------------------------------------------------------------------------------

type Answer = Record<string, unknown> & { error?: string };

/** A rank process as a request/answer channel: one JSON line out, one JSON line back. */
class Rank {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: { resolve(answer: Answer): void; reject(error: Error): void }[] = [];
  private exited: Error | null = null;
  readonly exit: Promise<void>;
  /** The rank's first line, once every rank has joined the group. */
  readonly ready: Promise<Answer>;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'], env });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      // Anything that is not an answer (a library's notice on stdout) goes where diagnostics go.
      if (!line.startsWith('{')) return void console.error(`${label}: ${line}`);
      const answer = JSON.parse(line) as Answer;
      const waiter = this.waiting.shift();
      if (answer.error) waiter?.reject(new Error(`${label} failed:\n${answer.error}`));
      else waiter?.resolve(answer);
    });
    this.exit = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = new Error(`${label} exited (${signal ?? `code ${code}`}); its stderr is above`);
        for (const w of this.waiting.splice(0)) w.reject(this.exited);
        resolve();
      });
    });
    this.ready = new Promise<Answer>((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  request<T>(command: Record<string, unknown>): Promise<T & Answer> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    }) as Promise<T & Answer>;
  }

  /** CPU time the process has used so far (Linux: /proc/PID/stat), in clock ticks; NaN elsewhere. */
  cpuTicks(): number {
    return processTicks(this.child.pid);
  }

  /** Asks it to leave the group and exit; kills it (this process's own child) if it has not after `ms`. */
  async close(ms = 20_000): Promise<void> {
    if (!this.exited) this.child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exit;
    clearTimeout(timer);
  }
}

type Side = 'vitorch' | 'torch';

// ---- other work on the machine ---------------------------------------------------------------------------------

/** Busy CPU time of the whole machine in clock ticks (/proc/stat: all but idle and iowait); NaN off Linux. */
function machineBusyTicks(): number {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return user + nice + system + irq + softirq + steal;
  } catch {
    return NaN;
  }
}

/** utime + stime of a process (all its threads) in clock ticks; NaN when it cannot be read. */
function processTicks(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

// USER_HZ, the unit of both: 100 on every Linux this runs on.
const TICKS_PER_SECOND = 100;

/** The two ranks of one side, started together (the rendezvous needs both). */
class Job {
  constructor(
    readonly side: Side,
    readonly ranks: Rank[],
    readonly readiness: Answer[],
  ) {}

  static async start(side: Side, python: string): Promise<Job> {
    const port = await freePort();
    const ranks = Array.from({ length: WORLD_SIZE }, (_, rank) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: String(WORLD_SIZE),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        GLOO_SOCKET_IFNAME: 'lo',
        OMP_NUM_THREADS: '1',
        VITORCH_NUM_THREADS: '1',
      };
      if (side === 'vitorch') {
        return new Rank(`vitorch rank ${rank}`, process.execPath, [path.join(__dirname, 'distributed-node.js')], env);
      }
      // PyTorch with the GEMM kernels vitorch uses (MKL's feature dispatch on a non-Intel CPU): see
      // bench/feature-dispatch.ts. The step's own speed is bench/train.ts's subject; this one compares the rest.
      if (vendorDispatchDiffers()) env.LD_PRELOAD = featureDispatchLibrary();
      return new Rank(`torch rank ${rank}`, python, [path.join(root, 'bench', 'distributed_torch.py')], env);
    });
    try {
      return new Job(side, ranks, await Promise.all(ranks.map((r) => r.ready)));
    } catch (error) {
      await Promise.all(ranks.map((r) => r.close(1000)));
      throw error;
    }
  }

  /** The same command to the ranks given (default all), their answers in rank order. */
  request<T>(command: Record<string, unknown>, ranks: number[] = [0, 1]): Promise<(T & Answer)[]> {
    return Promise.all(ranks.map((r) => this.ranks[r].request<T>(command)));
  }

  close(): Promise<void[]> {
    return Promise.all(this.ranks.map((r) => r.close()));
  }
}

// ---- contestants -----------------------------------------------------------------------------------------------

interface Timing {
  seconds: number[];
  losses?: number[];
  /** vitorch's allReduceSum: the JS copy of its argument, timed alone. */
  copySeconds?: number;
}

/** Something timed in turns: each run() gives one time per step (or per all-reduce); a time of several ranks working
 *  together is the slowest rank's, as the job waits for it. */
interface Contestant {
  name: string;
  side: Side;
  /** Processes x intra-op threads, for the table. */
  layout: string;
  /** Images per step over all its processes (0 for an all-reduce). */
  images: number;
  /** Untimed steps it needs at least before it runs as it will: 2 for a data-parallel step, whose Reducer rebuilds
   *  its buckets at the second. */
  minWarmup: number;
  warmup(count: number): Promise<Timing>;
  run(count: number): Promise<Timing>;
}

function slowestRank(answers: Timing[]): Timing {
  return {
    seconds: answers[0].seconds.map((_, i) => Math.max(...answers.map((a) => a.seconds[i]))),
    losses: answers[0].losses,
    copySeconds: answers[0].copySeconds,
  };
}

interface StepKind {
  key: string;
  label: string;
  mode: 'dp' | 'solo';
  ranks: number[];
  threads: number;
  batch: 'shard' | 'full';
}

const STEP_KINDS: StepKind[] = [
  { key: '2x1', label: '2x1 data-parallel', mode: 'dp', ranks: [0, 1], threads: 1, batch: 'shard' },
  { key: '2x1-solo', label: '2x1 without all-reduce', mode: 'solo', ranks: [0, 1], threads: 1, batch: 'shard' },
  { key: '1x1', label: '1x1 (one shard)', mode: 'solo', ranks: [0], threads: 1, batch: 'shard' },
  { key: '1x2', label: '1x2 (the global batch)', mode: 'solo', ranks: [0], threads: 2, batch: 'full' },
];

function stepContestant(job: Job, kind: StepKind, batch: number): Contestant {
  const run = async (steps: number) =>
    slowestRank(
      await job.request<Timing>(
        { cmd: 'steps', mode: kind.mode, threads: kind.threads, batch: kind.batch, steps },
        kind.ranks,
      ),
    );
  return {
    name: `${job.side} ${kind.key}`,
    side: job.side,
    layout: kind.key.slice(0, 3),
    images: kind.batch === 'full' ? batch * WORLD_SIZE : batch * kind.ranks.length,
    minWarmup: kind.mode === 'dp' ? 2 : 0,
    warmup: run,
    run,
  };
}

function allReduceContestant(job: Job, name: string, command: Record<string, unknown>): Contestant {
  const run = async (reps: number) => slowestRank(await job.request<Timing>({ ...command, reps }));
  return { name, side: job.side, layout: '2x1', images: 0, minWarmup: 0, warmup: run, run };
}

interface ContestantResult {
  name: string;
  side: Side;
  layout: string;
  images: number;
  seconds: number[];
  firstLoss: number | null;
  /** The median time of allReduceSum's own copy of its argument (vitorch's all-reduce only). */
  copyMs: number | null;
  medianMs: number;
  minMs: number;
  maxMs: number;
  imagesPerSecond: number | null;
}

/** `warmup` untimed runs for each in turn (at least its minWarmup), then `rounds` rounds of `count(c)` timed runs each, the order reversed every other
 *  round. */
async function runRounds(
  contestants: Contestant[],
  warmup: number,
  rounds: number,
  count: (c: Contestant) => number,
): Promise<ContestantResult[]> {
  const firstLoss = new Map<string, number | null>();
  for (const c of contestants) {
    const count = Math.max(warmup, c.minWarmup);
    if (count === 0) continue;
    const timing = await c.warmup(count);
    firstLoss.set(c.name, timing.losses?.[0] ?? null);
  }
  const samples = new Map<string, number[]>(contestants.map((c) => [c.name, []]));
  const copies = new Map<string, number[]>(contestants.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...contestants].reverse() : contestants;
    for (const c of order) {
      const timing = await c.run(count(c));
      samples.get(c.name)!.push(...timing.seconds);
      if (timing.copySeconds !== undefined) copies.get(c.name)!.push(timing.copySeconds);
      process.stdout.write('.');
    }
  }
  process.stdout.write('\n');
  return contestants.map((c) => {
    const seconds = samples.get(c.name)!;
    const medianSeconds = median(seconds);
    return {
      name: c.name,
      side: c.side,
      layout: c.layout,
      images: c.images,
      seconds,
      firstLoss: firstLoss.get(c.name) ?? null,
      copyMs: copies.get(c.name)!.length ? median(copies.get(c.name)!) * 1000 : null,
      medianMs: medianSeconds * 1000,
      minMs: Math.min(...seconds) * 1000,
      maxMs: Math.max(...seconds) * 1000,
      imagesPerSecond: c.images ? c.images / medianSeconds : null,
    };
  });
}

// ---- the parts -------------------------------------------------------------------------------------------------

/** reference_vit.VisionTransformer's keyword arguments for a model vitorch describes. */
function referenceKwargs(o: VisionTransformerOptions): Record<string, unknown> {
  const full = { ...VIT_B16, ...o };
  return {
    input_shape: full.inputShape,
    patch_size: full.patchSize,
    in_chans: full.inChans,
    num_classes: full.numClasses,
    num_features: full.numFeatures,
    depth: full.depth,
    num_heads: full.numHeads,
    mlp_ratio: full.mlpRatio,
    qkv_bias: full.qkvBias,
    drop_rate: full.dropRate,
    attn_drop_rate: full.attnDropRate,
    drop_path_rate: full.dropPathRate,
  };
}

interface AllReduceResult {
  part: 'allreduce';
  elements: number;
  bytes: number;
  rounds: number;
  reps: number;
  contestants: ContestantResult[];
}

/** All-reduce of ViT-B/16's gradients (as float32 tensors shaped like its parameters) on both sides, in one flat
 *  tensor, DDP's buckets and one per parameter, and vitorch's allReduceSum (float64, for figures) on as many bytes. */
async function allReducePart(vitorch: Job, torch: Job, options: Options): Promise<AllReduceResult> {
  const model = referenceKwargs(VIT_B16);
  const [{ elements }] = await torch.request<{ elements: number }>({ cmd: 'count', model }, [0]);
  const rounds = options.rounds ?? (options.quick ? 1 : 3);
  const reps = options.reps ?? (options.quick ? 2 : 3);
  console.log(
    `\nAll-reduce (SUM) of ViT-B/16's gradients, ${(elements / 1e6).toFixed(1)} M float32 values ` +
      `(${((elements * 4) / 1e6).toFixed(0)} MB), 2 ranks on loopback: ${rounds} rounds of ${reps}, a barrier before each`,
  );
  const contestants = [
    allReduceContestant(vitorch, 'vitorch allReduceSum, float64 flat', {
      cmd: 'allreduce',
      doubles: Math.floor(elements / 2),
    }),
    allReduceContestant(vitorch, 'vitorch allReduce, float32 flat', {
      cmd: 'allreduce-tensors',
      model: VIT_B16,
      layout: 'flat32',
    }),
    allReduceContestant(vitorch, "vitorch allReduce, float32 DDP's buckets", {
      cmd: 'allreduce-tensors',
      model: VIT_B16,
      layout: 'buckets',
    }),
    allReduceContestant(vitorch, 'vitorch allReduce, float32 per tensor', {
      cmd: 'allreduce-tensors',
      model: VIT_B16,
      layout: 'tensors',
    }),
    allReduceContestant(torch, 'torch all_reduce, float64 flat', { cmd: 'allreduce', model, layout: 'flat64' }),
    allReduceContestant(torch, 'torch all_reduce, float32 flat', { cmd: 'allreduce', model, layout: 'flat32' }),
    allReduceContestant(torch, "torch all_reduce, float32 DDP's buckets", {
      cmd: 'allreduce',
      model,
      layout: 'buckets',
    }),
    allReduceContestant(torch, 'torch all_reduce, float32 per tensor', { cmd: 'allreduce', model, layout: 'tensors' }),
  ];
  const results = await runRounds(contestants, 1, rounds, () => reps);
  const result: AllReduceResult = {
    part: 'allreduce',
    elements,
    bytes: elements * 4,
    rounds,
    reps,
    contestants: results,
  };
  console.log(
    `  ${'contestant'.padEnd(40)} ${'median ms'.padStart(10)}  ${'min-max ms'.padEnd(16)} ${'GB/s'.padStart(6)}`,
  );
  for (const c of results) {
    console.log(
      `  ${c.name.padEnd(40)} ${c.medianMs.toFixed(0).padStart(10)}  ${`(${c.minMs.toFixed(0)}-${c.maxMs.toFixed(0)})`.padEnd(16)} ` +
        `${(result.bytes / (c.medianMs / 1000) / 1e9).toFixed(2).padStart(6)}`,
    );
  }
  console.log("  GB/s: the gradients' bytes over the median time (algorithm bandwidth)");
  const copy = results.find((c) => c.copyMs !== null);
  if (copy) {
    console.log(
      `  of vitorch's ${copy.medianMs.toFixed(0)} ms, ${copy.copyMs!.toFixed(0)} ms is the JS copy of its argument ` +
        '(Float64Array.from) alone; the native side copies the values into a tensor and back again',
    );
  }
  return result;
}

interface Overlap {
  side: Side;
  /** 2x1 step minus the same two processes stepping without the all-reduce. */
  exposedMs: number;
  /** The all-reduce of this model's gradients in DDP's buckets with nothing else running. */
  allReduceAloneMs: number;
  /** 1 - exposed / alone. */
  hiddenShare: number;
  /** 2x1 step / (1x1 step + all-reduce alone): below 1 some of it hides (and two processes cost no contention). */
  againstSerial: number;
  /** 2x1 images/s over 1x2 images/s. */
  speedupOver1x2: number;
}

interface ConfigurationResult {
  part: string;
  title: string;
  batch: number;
  parameters: number;
  warmup: number;
  rounds: number;
  steps: number;
  reps: number;
  torchAdamW: string;
  firstLossDifference: number;
  contestants: ContestantResult[];
  overlap: Overlap[];
}

async function configurationPart(
  configuration: Configuration,
  vitorch: Job,
  torch: Job,
  options: Options,
  workDir: string,
): Promise<ConfigurationResult> {
  const pick = (pair: [number, number]) => (options.quick ? pair[1] : pair[0]);
  const warmup = options.warmup ?? pick(configuration.warmup);
  const rounds = options.rounds ?? pick(configuration.rounds);
  const steps = options.steps ?? pick(configuration.steps);
  const reps = options.reps ?? pick(configuration.reps);
  const { batch } = configuration;
  const o = { ...VIT_B16, ...configuration.model };
  const imageValues = o.inChans * o.inputShape[0] * o.inputShape[1];
  const globalBatch = batch * WORLD_SIZE;
  const files = {
    weights: path.join(workDir, `${configuration.name}.pth`),
    images: path.join(workDir, `${configuration.name}.f32`),
    labels: path.join(workDir, `${configuration.name}.i32`),
  };
  const images = seededNormals(globalBatch * imageValues, INPUT_SEED);
  const labels = Int32Array.from({ length: globalBatch }, (_, i) => (i * 7) % o.numClasses);
  fs.writeFileSync(files.images, new Uint8Array(images.buffer));
  fs.writeFileSync(files.labels, new Uint8Array(labels.buffer));
  const common = { images: files.images, labels: files.labels, batch, lr: LR, weightDecay: WEIGHT_DECAY };
  console.log(`\n${configuration.title}`);
  // vitorch's rank 0 writes its initial weights; PyTorch's ranks start from them.
  const [vitorchSetup] = await Promise.all(
    [0, 1].map((rank) =>
      vitorch.ranks[rank].request<{ parameters: number }>({
        cmd: 'setup',
        model: configuration.model,
        labelSmoothing: LABEL_SMOOTHING,
        ...common,
        saveWeights: rank === 0 ? files.weights : undefined,
      }),
    ),
  );
  const [torchSetup] = await torch.request<{ parameters: number; adamw: string }>({
    cmd: 'setup',
    model: referenceKwargs(configuration.model),
    weights: files.weights,
    labelSmoothing: LABEL_SMOOTHING,
    ...common,
  });
  if (torchSetup.parameters !== vitorchSetup.parameters) {
    throw new Error(`vitorch's model has ${vitorchSetup.parameters} parameters, PyTorch's ${torchSetup.parameters}`);
  }
  const contestants: Contestant[] = [];
  for (const kind of STEP_KINDS) for (const job of [vitorch, torch]) contestants.push(stepContestant(job, kind, batch));
  const allReduceName = "all-reduce alone (torch, DDP's buckets)";
  contestants.push(
    allReduceContestant(torch, allReduceName, {
      cmd: 'allreduce',
      model: referenceKwargs(configuration.model),
      layout: 'buckets',
    }),
  );
  console.log(
    `  ${(vitorchSetup.parameters / 1e6).toFixed(2)} M parameters; ${batch} images per process in 2x1 and 1x1, ` +
      `${globalBatch} in 1x2; ${warmup} warm-up steps, then ${rounds} rounds of ${steps} steps per contestant`,
  );
  const results = await runRounds(contestants, warmup, rounds, (c) => (c.images ? steps : reps));
  const find = (name: string) => results.find((c) => c.name === name)!;
  const allReduceAloneMs = find(allReduceName).medianMs;
  const overlap: Overlap[] = (['vitorch', 'torch'] as const).map((side) => {
    const ms = (key: string) => find(`${side} ${key}`).medianMs;
    const exposedMs = ms('2x1') - ms('2x1-solo');
    return {
      side,
      exposedMs,
      allReduceAloneMs,
      hiddenShare: 1 - exposedMs / allReduceAloneMs,
      againstSerial: ms('2x1') / (ms('1x1') + allReduceAloneMs),
      speedupOver1x2: find(`${side} 2x1`).imagesPerSecond! / find(`${side} 1x2`).imagesPerSecond!,
    };
  });
  const vitorchFirst = find('vitorch 2x1').firstLoss;
  const torchFirst = find('torch 2x1').firstLoss;
  const firstLossDifference =
    vitorchFirst === null || torchFirst === null ? NaN : Math.abs(vitorchFirst - torchFirst) / Math.abs(torchFirst);
  const result: ConfigurationResult = {
    part: configuration.name,
    title: configuration.title,
    batch,
    parameters: vitorchSetup.parameters,
    warmup,
    rounds,
    steps,
    reps,
    torchAdamW: torchSetup.adamw,
    firstLossDifference,
    contestants: results,
    overlap,
  };
  printConfiguration(result);
  await Promise.all([vitorch.request({ cmd: 'release' }), torch.request({ cmd: 'release' })]);
  return result;
}

function printConfiguration(r: ConfigurationResult): void {
  console.log(
    `  ${'contestant'.padEnd(40)} ${'images/step'.padStart(11)} ${'median ms'.padStart(10)}  ${'min-max ms'.padEnd(18)} ` +
      `${'images/s'.padStart(9)}  first loss`,
  );
  for (const c of r.contestants) {
    console.log(
      `  ${c.name.padEnd(40)} ${String(c.images || '-').padStart(11)} ${c.medianMs.toFixed(1).padStart(10)}  ` +
        `${`(${c.minMs.toFixed(1)}-${c.maxMs.toFixed(1)})`.padEnd(18)} ` +
        `${(c.imagesPerSecond?.toFixed(1) ?? '-').padStart(9)}  ${c.firstLoss?.toFixed(5) ?? '-'}`,
    );
  }
  for (const o of r.overlap) {
    const hidden =
      o.hiddenShare < 0
        ? 'none of it hidden'
        : o.hiddenShare > 1
          ? 'below the noise'
          : `${(o.hiddenShare * 100).toFixed(0)}% of it hidden`;
    console.log(
      `  ${o.side.padEnd(8)} 2x1 / 1x2 speed ${o.speedupOver1x2.toFixed(2)}x; 2x1 minus 2x1 without all-reduce ` +
        `${o.exposedMs.toFixed(1)} ms, the all-reduce alone ${o.allReduceAloneMs.toFixed(1)} ms (${hidden}); ` +
        `2x1 / (1x1 + all-reduce alone) ${o.againstSerial.toFixed(2)}`,
    );
  }
  const agree = r.firstLossDifference <= SAME_LOSS_TOLERANCE;
  console.log(
    `  first data-parallel step's loss, vitorch against PyTorch: relative difference ` +
      `${r.firstLossDifference.toExponential(1)} (${agree ? 'same model and batches' : 'DIFFERENT: check the setup'})`,
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const cpu = describeCpu();
  const python = findPython();
  const parts = options.only ?? [...PART_NAMES];
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-bench-distributed-'));
  // Other work on the machine shows here (the 1-minute load average before this run's own processes start).
  const loadBefore = os.loadavg()[0];
  console.log(
    `data-parallel training, ${WORLD_SIZE} ranks per side on loopback (Gloo), ${cpu.model} ` +
      `(${cpu.logicalCpus} logical CPUs)${options.quick ? '; --quick' : ''}`,
  );
  const busyBefore = machineBusyTicks();
  const ownBefore = process.cpuUsage();
  const jobs = await Promise.all([Job.start('vitorch', python), Job.start('torch', python)]);
  const [vitorch, torch] = jobs;
  const results: (AllReduceResult | ConfigurationResult)[] = [];
  let otherCpuSeconds = NaN;
  try {
    if (parts.includes('allreduce')) results.push(await allReducePart(vitorch, torch, options));
    for (const configuration of CONFIGURATIONS) {
      if (parts.includes(configuration.name))
        results.push(await configurationPart(configuration, vitorch, torch, options, workDir));
    }
    // What the machine was busy with besides this benchmark: its driver and ranks against /proc/stat.
    const ranksTicks = jobs.flatMap((j) => j.ranks).reduce((sum, r) => sum + r.cpuTicks(), 0);
    const own = process.cpuUsage(ownBefore);
    otherCpuSeconds = (machineBusyTicks() - busyBefore - ranksTicks) / TICKS_PER_SECOND - (own.user + own.system) / 1e6;
  } finally {
    await Promise.all(jobs.map((j) => j.close()));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const minutes = (performance.now() - started) / 60_000;
  const otherShare = otherCpuSeconds / (minutes * 60 * os.cpus().length);
  console.log(
    `\n${minutes.toFixed(1)} minutes; other processes used ${otherCpuSeconds.toFixed(1)} CPU seconds meanwhile ` +
      `(${(otherShare * 100).toFixed(1)}% of the machine${otherShare > 0.05 ? ': the figures above are disturbed' : ''})`,
  );
  writeResults(
    resultsFile,
    {
      date: new Date().toISOString(),
      cpu,
      platform: `${os.platform()} ${os.arch()}`,
      nodeVersion: process.version,
      torchVersion: torch.readiness[0].torchVersion,
      worldSize: WORLD_SIZE,
      recipe: { optimizer: 'AdamW', lr: LR, weightDecay: WEIGHT_DECAY, labelSmoothing: LABEL_SMOOTHING },
      torchFeatureDispatch: vendorDispatchDiffers(),
      options,
      minutes,
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      otherCpuSeconds,
      results,
    },
    { blankLineBefore: true },
  );
}

runMain('distributed', main);
