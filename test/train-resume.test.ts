// Resume: two epochs in one run equal one epoch, a stop, and a resumed epoch, bit for bit. Dropout and DropPath
// are on (so the random generator's state is part of what must be restored), the optimizer is AdamW (moments),
// the rate is set every step (schedule position), the training images are flipped and cropped (per-sample
// augmentation streams). Stops at an epoch boundary and in the middle of an epoch, through the library (exact
// stop points) and through the CLI (a real process and SIGTERM). The data: 256 Fashion-MNIST training images and
// 64 test images (tools/make_train_cli_fixtures.py).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint } from '../lib';
import { buildTrainingRun } from '../lib/cli/train-run';
import { loadTrainConfig } from '../lib/cli/train-config';
import type { EpochEvent, EpochTotals, StoppedEvent, TrainingEvent } from '../lib/train/trainer';
import { CLASSES, CLI, ensureFixtures, IDX_TRAIN, IDX_VAL, PREPROCESS, TINY_MODEL } from './train-cli-fixtures';

/** 64 steps of 4 images per epoch; 2 epochs. */
function writeConfig(dir: string): string {
  const file = path.join(dir, 'config.json');
  const config = {
    model: {
      ...TINY_MODEL,
      dropRate: 0.1,
      attnDropRate: 0.1,
      dropPathRate: 0.1,
    },
    classes: CLASSES,
    data: { train: IDX_TRAIN, val: IDX_VAL },
    preprocess: PREPROCESS,
    augment: { horizontalFlip: true, randomResizedCrop: false, cropPadding: 2 },
    train: {
      epochs: 2,
      batchSize: 4,
      lr: 0.002,
      minLr: 0.00001,
      lrScaling: 'none',
      optimizer: { kind: 'adamw', betas: [0.9, 0.999], weightDecay: 0.05, decayWeightsOnly: true },
      schedule: { kind: 'warmup-cosine', unit: 'step', warmup: 1, warmupStartLr: 0.00001 },
      labelSmoothing: 0.1,
      seed: 5,
      savePeriod: 1,
      threads: 1,
    },
  };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

let work: string;
let configFile: string;

beforeAll(() => {
  ensureFixtures();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-resume-'));
  configFile = writeConfig(work);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** name -> the bytes of its float32 values. */
type Weights = Map<string, Buffer>;

function differing(a: Weights, b: Weights): string[] {
  expect([...b.keys()]).toEqual([...a.keys()]);
  return [...a].filter(([name, bytes]) => !bytes.equals(b.get(name)!)).map(([name]) => name);
}

function fileWeights(file: string): Weights {
  const tensors = loadCheckpoint(file);
  try {
    return new Map([...tensors].map(([name, t]) => [name, Buffer.from(t.toFloat32Array().buffer)]));
  } finally {
    tensors.dispose();
  }
}

describe('through the library (Trainer.fit, saveState, loadState)', () => {
  interface Outcome {
    weights: Weights;
    epochs: EpochEvent[];
    stopped: TrainingEvent[];
  }

  /** Trains from `start` (a saved state) or from scratch, aborting when `stopAfter` says so; a stop saves the state. */
  async function train(stopAfter?: (event: TrainingEvent) => boolean, state?: string): Promise<Outcome> {
    const run = await buildTrainingRun(await loadTrainConfig(configFile));
    let position: { epoch: number; step: number; totals?: EpochTotals } = { epoch: 0, step: 0 };
    if (state) position = (await run.trainer.loadState(state)) as typeof position;
    const controller = new AbortController();
    const epochs: EpochEvent[] = [];
    const stopped: TrainingEvent[] = [];
    for await (const event of run.trainer.fit({
      ...run.fitOptions,
      startEpoch: position.epoch,
      startStep: position.step,
      startTotals: position.totals,
      signal: controller.signal,
    })) {
      if (event.type === 'epoch') epochs.push(event);
      if (event.type === 'stopped') {
        stopped.push(event);
        await run.trainer.saveState(path.join(work, 'library-state.pt'), {
          epoch: event.epoch,
          step: event.step,
          totals: event.totals,
        });
      }
      if (stopAfter?.(event)) controller.abort();
    }
    const weights = new Map(run.model.stateDict());
    const result = new Map([...weights].map(([name, t]) => [name, Buffer.from(t.toFloat32Array().buffer)]));
    for (const t of weights.values()) t.dispose();
    return { weights: result, epochs, stopped };
  }

  let straight: Outcome;
  beforeAll(async () => {
    straight = await train();
  });

  test('the uninterrupted run trains both epochs without a stop', () => {
    expect(straight.epochs.map((e) => [e.epoch, e.epochs])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(straight.stopped).toEqual([]);
  });

  test.each([
    ['after the first epoch', (e: TrainingEvent) => e.type === 'epoch' && e.epoch === 0, { epoch: 1, step: 0 }],
    [
      'after step 5 of the first epoch',
      (e: TrainingEvent) => e.type === 'step' && e.epoch === 0 && e.step === 5,
      { epoch: 0, step: 5 },
    ],
    [
      'after step 37 of the second epoch',
      (e: TrainingEvent) => e.type === 'step' && e.epoch === 1 && e.step === 37,
      { epoch: 1, step: 37 },
    ],
  ])('a stop %s and a resume end with the same weights, bit for bit', async (_, stopAfter, expected) => {
    const first = await train(stopAfter);
    expect(first.stopped).toEqual([{ type: 'stopped', ...expected, totals: expect.any(Object) }]);
    const { totals } = first.stopped[0] as StoppedEvent;
    // The totals of the steps that ran (batches of 4): a resumed epoch's loss and accuracy cover the whole epoch.
    expect(totals.seen).toBe(4 * expected.step);
    if (expected.step === 0) expect(totals).toEqual({ lossSum: 0, correct: 0, seen: 0 });
    // Stopping early really leaves the weights elsewhere: the comparison below is not vacuous.
    expect(differing(straight.weights, first.weights).length).toBeGreaterThan(0);
    const resumed = await train(undefined, path.join(work, 'library-state.pt'));
    expect(resumed.stopped).toEqual([]);
    expect(resumed.epochs.map((e) => e.epoch)).toEqual(expected.epoch === 0 ? [0, 1] : [1]);
    expect(differing(straight.weights, resumed.weights)).toEqual([]);
    // The validation after the last epoch sees the same model: the same loss and predictions.
    const last = resumed.epochs[resumed.epochs.length - 1];
    const reference = straight.epochs[1];
    expect(last.validation!.loss).toBe(reference.validation!.loss);
    expect(last.validation!.predictions).toEqual(reference.validation!.predictions);
    expect(last.lr).toBe(reference.lr);
    expect([last.loss, last.accuracy]).toEqual([reference.loss, reference.accuracy]);
  });
});

describe('through the CLI (a real process, SIGTERM, --resume)', () => {
  function cli(args: string[]) {
    return spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8' });
  }

  /** Starts training and sends SIGTERM as soon as the first epoch's summary line is on stderr. */
  function trainUntilFirstEpoch(dir: string): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'train', '--config', configFile, '--save-dir', dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let signalled = false;
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        if (!signalled && /^epoch 1\/2 \|/m.test(stderr)) {
          signalled = true;
          child.kill('SIGTERM');
        }
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  function curves(dir: string): Record<string, string>[] {
    const [header, ...rows] = fs.readFileSync(path.join(dir, 'curves.csv'), 'utf8').trim().split(/\r?\n/);
    const names = header.split(',');
    return rows.map((row) => Object.fromEntries(row.split(',').map((value, i) => [names[i], value])));
  }

  const pthFiles = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.pth'))
      .sort();

  test('train, SIGTERM during the second epoch, --resume: the same files as one uninterrupted run', async () => {
    const straight = path.join(work, 'cli-straight');
    const interrupted = path.join(work, 'cli-interrupted');
    const a = cli(['--config', configFile, '--save-dir', straight]);
    expect(a.stderr).toMatch(/vitorch train: done, 2 epochs/);
    expect(a.status).toBe(0);

    const b = await trainUntilFirstEpoch(interrupted);
    expect(b.code).toBe(0);
    // The signal arrives while the second epoch runs: the stop is mid-epoch.
    const stop =
      /vitorch train: stopped before epoch 2 step (\d+) after \d+ s; saved (.*); continue with --resume (.*)\n/.exec(
        b.stderr,
      );
    expect(stop).not.toBeNull();
    expect(stop![2]).toBe(path.join(interrupted, 'training_state.pt'));
    expect(stop![3]).toBe(interrupted);
    expect(curves(interrupted).map((r) => r.epoch)).toEqual(['1']);

    const resumed = cli(['--resume', interrupted]);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain(`resuming at epoch 2, step ${stop![1]}\n`);
    expect(resumed.stderr).not.toMatch(/^epoch 1\/2/m);
    expect(resumed.stderr).toMatch(/^epoch 2\/2 \|/m);

    // Same checkpoints, same names (their names carry the epoch's losses), same bytes.
    expect(pthFiles(interrupted)).toEqual(pthFiles(straight));
    for (const file of pthFiles(straight)) {
      expect([
        file,
        fs.readFileSync(path.join(interrupted, file)).equals(fs.readFileSync(path.join(straight, file))),
      ]).toEqual([file, true]);
    }
    expect(
      differing(
        fileWeights(path.join(straight, 'last_epoch_weights.pth')),
        fileWeights(path.join(interrupted, 'last_epoch_weights.pth')),
      ),
    ).toEqual([]);

    // The resumed run's curves hold both epochs, with the uninterrupted run's numbers (all but the timings).
    const timings = ({ images_per_second: _, seconds: __, ...rest }: Record<string, string>) => rest;
    expect(curves(interrupted).map(timings)).toEqual(curves(straight).map(timings));
    expect(curves(interrupted).map((r) => r.epoch)).toEqual(['1', '2']);
    expect(fs.readFileSync(path.join(interrupted, 'confusion.csv'), 'utf8')).toBe(
      fs.readFileSync(path.join(straight, 'confusion.csv'), 'utf8'),
    );
  });
});
