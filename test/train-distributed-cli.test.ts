// `vitorch train` on two processes: started by `--nproc-per-node 2` and by PyTorch's own torchrun, stopped by a
// signal to one rank and resumed, with a rank killed, and restarted by torchrun after a worker dies. Real processes on
// 256 Fashion-MNIST images (tools/make_train_cli_fixtures.py), with dropout off and augmentation on: the augmentation
// streams are keyed by image, not by process, so two processes of batch 4 train what one process of batch 8 trains.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint } from '../lib';
import { freePort } from '../lib/cli/train-launcher';
import { withoutLauncherFlags } from '../lib/cli/train';
import { learningRates } from '../lib/cli/train-run';
import { loadTrainConfig } from '../lib/cli/train-config';
import { python } from './python';
import { CLASSES, CLI, ensureFixtures, IDX_TRAIN, IDX_VAL, PREPROCESS, TINY_MODEL } from './train-cli-fixtures';

const EPOCHS = 6;
let work: string;
let configFile: string;

beforeAll(() => {
  ensureFixtures();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-distributed-'));
  configFile = path.join(work, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      model: { ...TINY_MODEL, dropRate: 0, attnDropRate: 0, dropPathRate: 0 },
      classes: CLASSES,
      data: { train: IDX_TRAIN, val: IDX_VAL },
      preprocess: PREPROCESS,
      augment: { horizontalFlip: true, randomResizedCrop: false, cropPadding: 2 },
      train: {
        epochs: EPOCHS,
        // Per process: two processes train a global batch of 8.
        batchSize: 4,
        lr: 0.01,
        minLr: 0.0001,
        // The article's rule, by the global batch: 8 / 256 x lr.
        lrScaling: 'batch-size',
        optimizer: { kind: 'adamw' },
        schedule: { kind: 'warmup-cosine', unit: 'step', warmup: 1, warmupStartLr: 0.00001 },
        seed: 7,
        savePeriod: 2,
        threads: 1,
      },
    }),
  );
});

const started = new Set<ChildProcess>();

afterAll(() => {
  // A failed test may leave a job running: SIGTERM stops the launcher's and torchrun's workers with them.
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  seconds: number;
}

interface Job {
  /** Resolves with the first match of `pattern` in stderr (all ranks' and the launcher's lines). */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  exit: Promise<Exit>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Job {
  const begun = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  started.add(child);
  let stderr = '';
  const waiting: { pattern: RegExp; resolve: (match: RegExpExecArray) => void }[] = [];
  const check = () => {
    for (const wait of [...waiting]) {
      const match = wait.pattern.exec(stderr);
      if (match) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve(match);
      }
    }
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    check();
  });
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const unmatched = waiting.map((w) => w.pattern).join(', ');
      if (unmatched) reject(new Error(`exited before stderr matched ${unmatched}:\n${stderr}`));
      resolve({ code, signal, stderr, seconds: (performance.now() - begun) / 1000 });
    });
  });
  return {
    waitFor: (pattern) =>
      new Promise((resolve) => {
        waiting.push({ pattern, resolve });
        check();
      }),
    exit,
  };
}

/** `vitorch train ARGS` (with --nproc-per-node among them: the launcher). */
const train = (args: string[], env?: NodeJS.ProcessEnv) => start(process.execPath, [CLI, 'train', ...args], env);

/** PyTorch's torchrun starting two ranks of `vitorch train ARGS`. */
async function torchrun(args: string[], torchrunFlags: string[] = []): Promise<Job> {
  const port = await freePort();
  return start(python(), [
    '-m',
    'torch.distributed.run',
    '--no-python',
    '--nproc-per-node',
    '2',
    '--master-port',
    String(port),
    ...torchrunFlags,
    process.execPath,
    CLI,
    'train',
    ...args,
  ]);
}

const pidOf = (match: RegExpExecArray) => Number(match[1]);
const JOINED = (rank: number) =>
  new RegExp(`^vitorch train: rank ${rank} of 2 \\(local rank ${rank}, pid (\\d+)\\) joined`, 'm');
/** Rank 0's last line after a stop: where the resume goes on (1-based), the state file and the folder to resume. */
const STOPPED =
  /^vitorch train: stopped before epoch (\d+)(?: step (\d+))? after \d+ s; saved (.+); continue with --resume (.+)$/m;
const FIRST_EPOCH = new RegExp(`^epoch 1/${EPOCHS} \\|`, 'm');

type Weights = Map<string, Float32Array>;

function weightsOf(file: string): Weights {
  const tensors = loadCheckpoint(file);
  try {
    return new Map([...tensors].map(([name, t]) => [name, t.toFloat32Array()]));
  } finally {
    tensors.dispose();
  }
}

function largestDifference(a: Weights, b: Weights): number {
  expect([...b.keys()]).toEqual([...a.keys()]);
  let largest = 0;
  for (const [name, values] of a) {
    const other = b.get(name)!;
    for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i] - other[i]));
  }
  return largest;
}

/**
 * The weights less the key bias (the middle third of each block's qkv.bias). Adding a constant to every key adds
 * the same q.b to a query's logits, which softmax ignores: the key bias's gradient is zero in exact arithmetic, so
 * what it gets is rounding noise, which AdamW's g / sqrt(v) scales up to steps of the learning rate's size. Any other
 * order of additions (one mean of 8 against two means of 4) moves it elsewhere; the rest of the model agrees.
 */
function withoutKeyBias(weights: Weights): Weights {
  const result = new Map(weights);
  const width = TINY_MODEL.numFeatures;
  for (const [name, values] of weights) {
    if (name.endsWith('.attn.qkv.bias')) {
      result.set(name, Float32Array.of(...values.subarray(0, width), ...values.subarray(2 * width)));
    }
  }
  return result;
}

/** How far apart two runs' weights are that differ only in the order of float additions. */
const ROUNDING = 1e-5;

const sameBytes = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

/** The files a run wrote, with the losses in the checkpoint names left out (they are compared as numbers). */
function fileSet(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => f.replace(/-loss[^-]+-val_loss[^-]+\.pth$/, '-loss*.pth'))
    .sort();
}

function curves(dir: string): Record<string, number>[] {
  const [header, ...rows] = fs.readFileSync(path.join(dir, 'curves.csv'), 'utf8').trim().split(/\r?\n/);
  const names = header.split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((value, i) => [names[i], Number(value)])));
}

/** The curves without the timings, which differ from run to run. */
const figures = (dir: string) => curves(dir).map(({ images_per_second: _, seconds: __, ...rest }) => rest);

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => /\.tmp-|\.partial$/.test(f));

/** The runs the other tests compare with: one process at the global batch, and two processes started by
 *  --nproc-per-node at half of it each (one after the other: two cores), uninterrupted. */
let one: string;
let twoProcesses: string;
let oneRun: Exit;
let twoRun: Exit;

beforeAll(async () => {
  one = path.join(work, 'one');
  twoProcesses = path.join(work, 'two');
  oneRun = await train(['--config', configFile, '--save-dir', one, '--train.batchSize', '8']).exit;
  twoRun = await train(['--config', configFile, '--save-dir', twoProcesses, '--nproc-per-node', '2']).exit;
});

describe('--nproc-per-node 2', () => {
  test('trains on two ranks; rank 0 reports and writes what one process writes, the other rank is quiet', () => {
    expect([oneRun.code, twoRun.code, twoRun.signal]).toEqual([0, 0, null]);
    const threads = process.env.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    expect(twoRun.stderr).toMatch(
      new RegExp(
        `^vitorch train: starting 2 processes \\(rendezvous at 127\\.0\\.0\\.1:\\d+, OMP_NUM_THREADS=${threads}\\)$`,
        'm',
      ),
    );
    expect(twoRun.stderr).toMatch(JOINED(0));
    expect(twoRun.stderr).toMatch(JOINED(1));
    // One summary line per epoch (rank 0's), one 'done' of rank 0 and one of rank 1.
    expect(twoRun.stderr.match(/^epoch \d+\/\d+ \|/gm)).toHaveLength(EPOCHS);
    expect(twoRun.stderr).toMatch(/^vitorch train: done, 6 epochs/m);
    expect(twoRun.stderr).toMatch(/^vitorch train: rank 1 of 2 done$/m);
    expect(fileSet(twoProcesses)).toEqual(fileSet(one));
    expect(leftovers(twoProcesses)).toEqual([]);
  });

  test('the weights and curves are those of one process at the global batch and its learning rate', async () => {
    // The learning rate follows the global batch: the rule gives batch 4 another rate than batch 8.
    const config = await loadTrainConfig(configFile);
    expect(learningRates(config, 4).lr).not.toBe(learningRates(config, 8).lr);
    const a = figures(one);
    const b = figures(twoProcesses);
    expect(b.map((row) => row.lr)).toEqual(a.map((row) => row.lr));
    for (const [i, row] of a.entries()) {
      for (const key of ['train_loss', 'val_loss', 'top1', 'top5']) expect(b[i][key]).toBeCloseTo(row[key], 5);
    }
    // Equal but for the order of float additions (the gradient is the mean of two means of 4, not one mean of 8).
    const last = withoutKeyBias(weightsOf(path.join(twoProcesses, 'last_epoch_weights.pth')));
    expect(largestDifference(withoutKeyBias(weightsOf(path.join(one, 'last_epoch_weights.pth'))), last)).toBeLessThan(
      ROUNDING,
    );
    // A bound that means something: the last two epochs of training moved the weights far more than it.
    const earlier = path.join(twoProcesses, `ep00${EPOCHS - 2}-${checkpointSuffix(twoProcesses, EPOCHS - 2)}`);
    expect(largestDifference(withoutKeyBias(weightsOf(earlier)), last)).toBeGreaterThan(100 * ROUNDING);
  });
});

/** The loss part of epoch `epoch`'s checkpoint name in `dir`. */
function checkpointSuffix(dir: string, epoch: number): string {
  const name = fs.readdirSync(dir).find((f) => f.startsWith(`ep${String(epoch).padStart(3, '0')}-`))!;
  return name.slice(6);
}

test('torchrun --nproc-per-node 2 trains the same weights, bit for bit', async () => {
  const dir = path.join(work, 'torchrun');
  const run = await (await torchrun(['--config', configFile, '--save-dir', dir])).exit;
  expect([run.code, run.signal]).toEqual([0, null]);
  expect(run.stderr).toMatch(JOINED(0));
  expect(run.stderr).toMatch(JOINED(1));
  expect(fileSet(dir)).toEqual(fileSet(twoProcesses));
  expect(sameBytes(path.join(dir, 'last_epoch_weights.pth'), path.join(twoProcesses, 'last_epoch_weights.pth'))).toBe(
    true,
  );
  expect(figures(dir)).toEqual(figures(twoProcesses));
});

test('SIGTERM to rank 1: all stop after the same step, rank 0 saves once; resuming finishes the same run', async () => {
  const dir = path.join(work, 'signal');
  const job = train(['--config', configFile, '--save-dir', dir, '--nproc-per-node', '2']);
  const rank1 = pidOf(await job.waitFor(JOINED(1)));
  await job.waitFor(FIRST_EPOCH);
  process.kill(rank1, 'SIGTERM');
  const stopped = await job.exit;
  expect([stopped.code, stopped.signal]).toEqual([0, null]);
  expect(stopped.stderr).toMatch(
    /^vitorch train: rank 1 of 2: SIGTERM: every rank stops after the next step, then rank 0 saves$/m,
  );
  const lead = STOPPED.exec(stopped.stderr);
  const other = /^vitorch train: rank 1 of 2 stopped with the others before epoch (\d+)(?: step (\d+))?$/m.exec(
    stopped.stderr,
  );
  expect(lead).not.toBeNull();
  expect(other).not.toBeNull();
  expect([other![1], other![2]]).toEqual([lead![1], lead![2]]);
  expect(stopped.stderr.match(/; saved /g)).toHaveLength(1);
  expect(lead![3]).toBe(path.join(dir, 'training_state.pt'));
  const stoppedEpoch = Number(lead![1]);
  expect(stoppedEpoch).toBeLessThanOrEqual(EPOCHS);
  expect(curves(dir).map((row) => row.epoch)).toEqual(Array.from({ length: stoppedEpoch - 1 }, (_, i) => i + 1));

  // The position in images maps to one process at batch 8 too (the same global batch: the same step).
  const alone = path.join(work, 'signal-alone');
  fs.cpSync(dir, alone, { recursive: true });

  const resumed = await train(['--resume', dir, '--nproc-per-node', '2']).exit;
  expect([resumed.code, resumed.signal]).toEqual([0, null]);
  const position = `epoch ${lead![1]}${lead![2] === undefined ? '' : `, step ${lead![2]}`}`;
  expect(resumed.stderr).toMatch(new RegExp(`^resuming at ${position}$`, 'm'));
  expect(sameBytes(path.join(dir, 'last_epoch_weights.pth'), path.join(twoProcesses, 'last_epoch_weights.pth'))).toBe(
    true,
  );
  expect(figures(dir)).toEqual(figures(twoProcesses));

  const single = await train(['--resume', alone, '--train.batchSize', '8']).exit;
  expect(single.code).toBe(0);
  if (lead![2] !== undefined) {
    expect(single.stderr).toContain(
      `resuming at ${position} (the stopped run had trained ${(Number(lead![2]) - 1) * 8} images of this epoch, as 2 ` +
        'processes of batch 4; this run, 1 process of batch 8, goes on from there)',
    );
  }
  expect(
    largestDifference(
      withoutKeyBias(weightsOf(path.join(alone, 'last_epoch_weights.pth'))),
      withoutKeyBias(weightsOf(path.join(twoProcesses, 'last_epoch_weights.pth'))),
    ),
  ).toBeLessThan(ROUNDING);
});

test('SIGTERM to the launcher reaches every rank once: they stop after the same step and exit 0', async () => {
  const dir = path.join(work, 'launcher-signal');
  const job = train(['--config', configFile, '--save-dir', dir, '--nproc-per-node', '2']);
  await job.waitFor(FIRST_EPOCH);
  [...started].at(-1)!.kill('SIGTERM');
  const run = await job.exit;
  expect([run.code, run.signal]).toEqual([0, null]);
  for (const rank of [0, 1]) {
    const line = `vitorch train: rank ${rank} of 2: SIGTERM: every rank stops after the next step, then rank 0 saves`;
    expect(run.stderr.split('\n').filter((l) => l === line)).toHaveLength(1);
  }
  const lead = /^vitorch train: stopped before (epoch \d+(?: step \d+)?) after/m.exec(run.stderr);
  expect(run.stderr).toContain(`vitorch train: rank 1 of 2 stopped with the others before ${lead![1]}\n`);
  expect(fs.existsSync(path.join(dir, 'training_state.pt'))).toBe(true);
});

test('SIGKILL to rank 1: rank 0 fails at once, "a peer was lost"; exit non-zero; no file half-written', async () => {
  const dir = path.join(work, 'killed');
  const job = train(['--config', configFile, '--save-dir', dir, '--nproc-per-node', '2', '--dist-timeout-ms', '60000']);
  const rank1 = pidOf(await job.waitFor(JOINED(1)));
  await job.waitFor(FIRST_EPOCH);
  process.kill(rank1, 'SIGKILL');
  const run = await job.exit;
  expect(run.code).toBe(128 + os.constants.signals.SIGKILL);
  expect(run.stderr).toMatch(
    new RegExp(`^vitorch train: rank 1 \\(pid ${rank1}\\) was killed by SIGKILL; stopping the other ranks$`, 'm'),
  );
  expect(run.stderr).toMatch(/^vitorch train: rank 0 of 2: a peer was lost during the /m);
  // Noticed through the closed connection, long before the process group's timeout.
  expect(run.seconds).toBeLessThan(30);
  expect(leftovers(dir)).toEqual([]);
  // What was written reads whole.
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.pth'))) {
    expect(weightsOf(path.join(dir, file)).size).toBeGreaterThan(0);
  }
});

test('a rank that hangs (SIGSTOP) fails the others after --dist-timeout-ms', async () => {
  const dir = path.join(work, 'hung');
  const job = train(['--config', configFile, '--save-dir', dir, '--nproc-per-node', '2', '--dist-timeout-ms', '2000']);
  const rank1 = pidOf(await job.waitFor(JOINED(1)));
  await job.waitFor(FIRST_EPOCH);
  process.kill(rank1, 'SIGSTOP');
  const stopped = performance.now();
  await job.waitFor(/^vitorch train: rank 0 of 2: the [a-z -]+ timed out after 2000 ms waiting for the other ranks/m);
  const waited = performance.now() - stopped;
  // Let it go on: the launcher's SIGTERM has been waiting for it.
  process.kill(rank1, 'SIGCONT');
  const run = await job.exit;
  expect(run.code).toBe(1);
  // Whichever rank the launcher sees exit first: rank 1 fails at once when it goes on.
  expect(run.stderr).toMatch(/^vitorch train: rank [01] \(pid \d+\) exited with code 1; stopping the other ranks$/m);
  expect(waited).toBeGreaterThanOrEqual(1900);
  expect(waited).toBeLessThan(20_000);
});

test('SIGKILL to the launcher: its workers notice, stop together after the same step, and rank 0 saves', async () => {
  const dir = path.join(work, 'orphaned');
  const job = start(process.execPath, [
    CLI,
    'train',
    '--config',
    configFile,
    '--save-dir',
    dir,
    '--nproc-per-node',
    '2',
  ]);
  await job.waitFor(FIRST_EPOCH);
  const launcher = [...started].at(-1)!;
  launcher.kill('SIGKILL');
  // The workers write to the same pipe: it closes when they are gone too.
  const run = await job.exit;
  expect(run.signal).toBe('SIGKILL');
  expect(run.stderr).toMatch(/^vitorch train: rank 1 of 2: the launcher exited: every rank stops after the next step/m);
  expect(run.stderr).toMatch(/^vitorch train: stopped before epoch \d+.*; saved /m);
  expect(fs.existsSync(path.join(dir, 'training_state.pt'))).toBe(true);
});

test('torchrun --max-restarts 1, --auto-resume: a worker dies, the restarted job resumes and finishes', async () => {
  const dir = path.join(work, 'restarted');
  const job = await torchrun(['--config', configFile, '--save-dir', dir, '--auto-resume'], ['--max-restarts', '1']);
  const rank1 = pidOf(await job.waitFor(JOINED(1)));
  await job.waitFor(FIRST_EPOCH);
  process.kill(rank1, 'SIGKILL');
  const run = await job.exit;
  expect([run.code, run.signal]).toEqual([0, null]);
  expect(run.stderr).toMatch(new RegExp(`^resuming at epoch \\d+ from ${path.join(dir, 'training_state.pt')}$`, 'm'));
  expect(run.stderr).toMatch(/^vitorch train: done, 6 epochs/m);
  // The epoch-boundary state resumes exactly: the uninterrupted run's weights and curves.
  expect(sameBytes(path.join(dir, 'last_epoch_weights.pth'), path.join(twoProcesses, 'last_epoch_weights.pth'))).toBe(
    true,
  );
  expect(figures(dir)).toEqual(figures(twoProcesses));
});

test('ranks that would start from different training states refuse to train', async () => {
  // What a save directory that the machines do not share gives: rank 0 finds a state, rank 1 none.
  const withState = path.join(work, 'mismatch-0');
  const withoutState = path.join(work, 'mismatch-1');
  fs.cpSync(twoProcesses, withState, { recursive: true });
  const port = String(await freePort());
  const ranks = [withState, withoutState].map((dir, rank) =>
    train(['--config', configFile, '--save-dir', dir, '--auto-resume'], {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: port,
    }),
  );
  const [first, second] = await Promise.all(ranks.map((job) => job.exit));
  expect([first.code, second.code]).toEqual([1, 1]);
  expect(first.stderr).toContain(
    `vitorch train: rank 0 of 2 starts at epoch ${EPOCHS + 1}, step 1, but the ranks disagree (on average epoch ` +
      `${EPOCHS / 2 + 1}, step 1): every rank must read the same training state (a save directory that all of them ` +
      'share)\n',
  );
  expect(second.stderr).toMatch(/^vitorch train: rank 1 of 2 starts at epoch 1, step 1, but the ranks disagree/m);
  expect(fs.existsSync(withoutState)).toBe(false);
});

describe('flags', () => {
  test.each([
    [['--nproc-per-node', '0'], "expected a positive integer for --nproc-per-node, received '0'"],
    [
      ['--master-port', '29500'],
      '--master-port goes with --nproc-per-node (under torchrun, give torchrun --master-port)',
    ],
    [
      ['--dist-timeout-ms', '1000'],
      '--dist-timeout-ms applies to a run on several processes (under torchrun, or with --nproc-per-node)',
    ],
    [
      ['--nproc-per-node', '2', '--master-port', '70000'],
      "expected a port in [1, 65535] for --master-port, received '70000'",
    ],
    [
      ['--auto-resume', '--resume', 'somewhere'],
      '--auto-resume resumes from --save-dir when it holds a training state; leave out --resume',
    ],
  ])('%j is a usage error', (flags, message) => {
    const run = spawnSync(process.execPath, [CLI, 'train', '--config', configFile, '--save-dir', work, ...flags], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(`vitorch train: ${message}`);
  });

  test('--nproc-per-node under torchrun (RANK and WORLD_SIZE set) is a usage error', () => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'train', '--config', configFile, '--save-dir', work, '--nproc-per-node', '2'],
      { encoding: 'utf8', env: { ...process.env, RANK: '1', WORLD_SIZE: '2' } },
    );
    expect(run.status).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'vitorch train: --nproc-per-node starts the processes itself; this one is already rank 1 of 2 (RANK and ' +
        'WORLD_SIZE are set, as torchrun sets them): leave --nproc-per-node out',
    );
  });

  test("the workers get every flag but the launcher's own", () => {
    expect(
      withoutLauncherFlags([
        '--config',
        'c.json',
        '--nproc-per-node',
        '2',
        '--master-port=29500',
        '--train.lr',
        '1e-3',
        '--nproc-per-node=3',
        '--dist-timeout-ms',
        '5000',
      ]),
    ).toEqual(['--config', 'c.json', '--train.lr', '1e-3', '--dist-timeout-ms', '5000']);
  });
});
