// Trainer.fit(): the article's frozen phase (backbone untouched, its own batch size and learning rate), its
// learning-rate rule per epoch (against its own train.py loop and get_lr_scheduler, tools/make_recipe_fixtures.py), a clean stop on an AbortSignal, and gradient accumulation against torch.optim
// (tools/make_train_cli_fixtures.py). The model and data are what `vitorch train` builds from a config
// (lib/cli/train-run.ts), on 256 Fashion-MNIST images.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint, sgd, tensor, Trainer, VisionTransformer, VisionTransformerOptions } from '../lib';
import { buildTrainingRun, TrainingRun } from '../lib/cli/train-run';
import { loadTrainConfig } from '../lib/cli/train-config';
import type { Batch, EpochEvent, StepEvent, TrainingEvent } from '../lib/train/trainer';
import { expectRelativelyClose, recipe, RecipeManifest } from './recipe-fixtures';
import {
  CLASSES,
  ensureFixtures as ensureSharedFixtures,
  FIXTURES,
  IDX_TRAIN,
  PREPROCESS,
  TINY_MODEL,
} from './train-cli-fixtures';

interface Manifest {
  accumulation: {
    config: VisionTransformerOptions;
    half: number;
    updates: number;
    labelSmoothing: number;
    sgd: { lr: number; momentum: number; nesterov: boolean; weight_decay: number };
    images: string;
    labels: string;
    initial: string;
    halves: string;
    whole: string;
  };
}

function ensureFixtures(): Manifest {
  return ensureSharedFixtures() as Manifest;
}

const FREEZE_BATCH = 16;
const BATCH = 32;
const EPOCHS = 4;

let manifest: Manifest;
let article: RecipeManifest['runs']['trainFit'];
let work: string;
let configFile: string;

beforeAll(() => {
  manifest = ensureFixtures();
  article = recipe().runs.trainFit;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-fit-'));
  configFile = path.join(work, 'config.json');
  // Depth 9, so that blocks.8 is outside the article's frozen backbone (blocks 0-7). Its lr rule: SGD, lr and minLr
  // scaled by batch / 256, the 'cos' schedule set once per epoch (the run tools/make_recipe_fixtures.py replays).
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      model: { ...TINY_MODEL, depth: 9 },
      classes: CLASSES,
      data: { train: IDX_TRAIN },
      preprocess: PREPROCESS,
      augment: { horizontalFlip: true, randomResizedCrop: false, cropPadding: 0 },
      train: {
        epochs: EPOCHS,
        batchSize: BATCH,
        freezeEpochs: 1,
        freezeBatchSize: FREEZE_BATCH,
        lr: 1e-2,
        minLr: 1e-4,
        lrScaling: 'batch-size',
        optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
        schedule: { kind: 'quadratic-warmup-cosine', unit: 'epoch' },
        seed: 11,
        threads: 1,
      },
    }),
  );
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

async function build(): Promise<TrainingRun> {
  return buildTrainingRun(await loadTrainConfig(configFile));
}

type Snapshot = Map<string, Buffer>;

function snapshot(model: VisionTransformer): Snapshot {
  return new Map(
    model.namedParameters().map(([name, t]) => {
      const bytes = Buffer.from(t.toFloat32Array().buffer);
      t.dispose();
      return [name, bytes];
    }),
  );
}

function changed(before: Snapshot, after: Snapshot): string[] {
  return [...before].filter(([name, bytes]) => !bytes.equals(after.get(name)!)).map(([name]) => name);
}

const isBackbone = (name: string) => /^(patch_embed\.|cls_token$|pos_embed$|blocks\.[0-7]\.)/.test(name);

describe("the frozen phase and the article's learning rates", () => {
  const epochs: EpochEvent[] = [];
  const steps: StepEvent[] = [];
  const snapshots: Snapshot[] = [];
  let names: string[];

  beforeAll(async () => {
    const run = await build();
    snapshots.push(snapshot(run.model));
    names = [...snapshots[0].keys()];
    for await (const event of run.trainer.fit(run.fitOptions)) {
      if (event.type === 'step') steps.push(event);
      if (event.type === 'epoch') {
        epochs.push(event);
        snapshots.push(snapshot(run.model));
      }
    }
  });

  test('the backbone does not move while frozen; blocks.8, norm and head do', () => {
    const backbone = names.filter(isBackbone);
    const rest = names.filter((name) => !isBackbone(name));
    expect(backbone).toContain('blocks.7.mlp.fc2.weight');
    expect(rest.sort()).toEqual(names.filter((n) => /^(blocks\.8\.|norm\.|head\.)/.test(n)).sort());
    expect(epochs[0].frozen).toBe(true);
    // Changed bitwise: every parameter outside the backbone, none inside.
    expect(changed(snapshots[0], snapshots[1]).sort()).toEqual(rest.sort());
  });

  test('after unfreezing every parameter moves, in every epoch', () => {
    expect(epochs.slice(1).map((e) => e.frozen)).toEqual([false, false, false]);
    for (let e = 1; e < EPOCHS; e++) expect(changed(snapshots[e], snapshots[e + 1]).sort()).toEqual([...names].sort());
  });

  test('each phase runs at its own batch size, as the epoch and step events report', () => {
    expect(epochs.map((e) => e.batchSize)).toEqual([FREEZE_BATCH, BATCH, BATCH, BATCH]);
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    // 256 images, the last incomplete batch dropped.
    const stepsOf = (epoch: number) => steps.filter((s) => s.epoch === epoch);
    expect(stepsOf(0).map((s) => s.steps)).toEqual(new Array(256 / FREEZE_BATCH).fill(256 / FREEZE_BATCH));
    for (let e = 1; e < EPOCHS; e++) expect(stepsOf(e).map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  // Tolerance 1e-12 relative: the same IEEE double operations on both sides, apart from an ulp of cos or pow.
  test("lr per epoch is what the article's train.py sets at that epoch, with lr and minLr scaled for the phase's batch size", () => {
    // The fixture is the run this config describes.
    expect([
      article.optimizer,
      article.initLr,
      article.minLr,
      article.epochs,
      article.freezeEpochs,
      article.freezeBatchSize,
      article.batchSize,
    ]).toEqual(['sgd', 1e-2, 1e-4, EPOCHS, 1, FREEZE_BATCH, BATCH]);
    expect(epochs.map((e) => [e.epoch, e.batchSize])).toEqual(article.rates.map((r) => [r.epoch, r.batchSize]));
    epochs.forEach((e, i) => expectRelativelyClose(e.lr, article.rates[i].lr, 1e-12, `epoch ${e.epoch}`));
    // Every step of an epoch runs at that epoch's rate (the article sets it once per epoch).
    for (const s of steps) expect(s.lr).toBe(epochs[s.epoch].lr);
    // By hand: batch 16 gives lr 1e-2 * 16 / 256 = 6.25e-4, epoch 0 is the warmup's start, 0.1 lr; batch 32 gives
    // lr 1.25e-3 and minLr 1.25e-5; epoch 1 ends the one-epoch warmup (lr), epoch 2 is the middle of the cosine
    // (halfway between lr and minLr), epoch 3 the flat end (minLr).
    const byHand = [6.25e-5, 1.25e-3, (1.25e-3 + 1.25e-5) / 2, 1.25e-5];
    epochs.forEach((e, i) => expect(Math.abs(e.lr - byHand[i]) / byHand[i]).toBeLessThan(1e-12));
  });
});

test('an abort mid-epoch yields one stopped event with the next step, then the iterator ends', async () => {
  const run = await build();
  const controller = new AbortController();
  const after: TrainingEvent[] = [];
  let aborted = false;
  for await (const event of run.trainer.fit({ ...run.fitOptions, signal: controller.signal })) {
    if (aborted) after.push(event);
    if (event.type === 'step' && event.epoch === 1 && event.step === 3) {
      controller.abort();
      aborted = true;
    }
  }
  expect(after).toEqual([
    {
      type: 'stopped',
      epoch: 1,
      step: 3,
      totals: { lossSum: expect.any(Number), correct: expect.any(Number), seen: 3 * BATCH },
    },
  ]);
});

describe('gradient accumulation against torch.optim', () => {
  function readF32(file: string): Float32Array {
    const bytes = fs.readFileSync(path.join(FIXTURES, file));
    return Float32Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  }
  function readI32(file: string): Int32Array {
    const bytes = fs.readFileSync(path.join(FIXTURES, file));
    return Int32Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  }
  function relativeMaxError(actual: Float32Array, expected: Float32Array): number {
    let error = 0;
    let scale = 1e-12;
    for (let i = 0; i < expected.length; i++) {
      error = Math.max(error, Math.abs(actual[i] - expected[i]));
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    return error / scale;
  }
  function worstError(model: VisionTransformer, reference: string): number {
    const expected = loadCheckpoint(path.join(FIXTURES, reference));
    try {
      let worst = 0;
      for (const [name, p] of model.namedParameters()) {
        worst = Math.max(worst, relativeMaxError(p.toFloat32Array(), expected.get(name)!.toFloat32Array()));
        p.dispose();
      }
      return worst;
    } finally {
      expected.dispose();
    }
  }

  // float32 against PyTorch, fused attention against explicit softmax, as in train-parity.test.ts.
  const TOLERANCE = 1e-4;

  test("accumulationSteps 2 over equal half batches gives PyTorch's accumulated update, and the whole batch's", async () => {
    const a = manifest.accumulation;
    const model = new VisionTransformer(a.config);
    model.loadStateDict(path.join(FIXTURES, a.initial));
    model.train();
    const optimizer = sgd(model, {
      lr: a.sgd.lr,
      momentum: a.sgd.momentum,
      nesterov: a.sgd.nesterov,
      weightDecay: a.sgd.weight_decay,
    });
    const trainer = new Trainer(model, { optimizer, labelSmoothing: a.labelSmoothing, accumulationSteps: 2 });
    const images = readF32(a.images);
    const labels = readI32(a.labels);
    const perImage = 28 * 28;
    const halves = 2 * a.updates;
    async function* batches(): AsyncGenerator<Batch> {
      for (let h = 0; h < halves; h++) {
        yield {
          images: images.slice(h * a.half * perImage, (h + 1) * a.half * perImage),
          labels: labels.slice(h * a.half, (h + 1) * a.half),
        };
      }
    }
    const before = snapshot(model);
    const events: TrainingEvent[] = [];
    for await (const event of trainer.fit({
      epochs: 1,
      batchSize: a.half,
      train: () => ({ batches: batches(), steps: halves }),
      schedule: () => ({ lrAt: () => a.sgd.lr }),
    }))
      events.push(event);
    expect(events.filter((e) => e.type === 'step')).toHaveLength(halves);
    expect(changed(before, snapshot(model))).toHaveLength(before.size);
    expect(worstError(model, a.halves)).toBeLessThan(TOLERANCE);
    // Accumulating equal halves is a step on the whole batch (PyTorch's own two runs differ by rounding only).
    expect(worstError(model, a.whole)).toBeLessThan(TOLERANCE);
    // Without accumulation the same four batches make four updates: far from both references.
    const plain = new VisionTransformer(a.config);
    plain.loadStateDict(path.join(FIXTURES, a.initial));
    plain.train();
    const plainTrainer = new Trainer(plain, {
      optimizer: sgd(plain, {
        lr: a.sgd.lr,
        momentum: a.sgd.momentum,
        nesterov: a.sgd.nesterov,
        weightDecay: a.sgd.weight_decay,
      }),
      labelSmoothing: a.labelSmoothing,
    });
    for (let h = 0; h < halves; h++) {
      const x = tensor(images.slice(h * a.half * perImage, (h + 1) * a.half * perImage), [a.half, 1, 28, 28]);
      const y = tensor(labels.slice(h * a.half, (h + 1) * a.half), [a.half]);
      await plainTrainer.step(x, y, { lr: a.sgd.lr });
      x.dispose();
      y.dispose();
    }
    expect(worstError(plain, a.halves)).toBeGreaterThan(100 * TOLERANCE);
  });
});
