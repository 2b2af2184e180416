// One table of optimizer defaults (lib/train/optimizer-defaults.ts), held to the article's recipe: for each optimizer
// kind, the library's factory with no options and `vitorch train`'s config with only `"optimizer": { "kind" }` both
// resolve to what the article's train.py builds (its recommended Init_lr, Min_lr = 0.01 Init_lr, momentum / betas,
// weight decay; its batch-size rule), as tools/make_recipe_fixtures.py reads it from train.py and torch.optim.
// AdamW is not in the article: the fixture states vitorch's choice (Adam's settings, weight decay 0.05) beside it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { adam, adamw, Optimizer, sgd, Trainer, VisionTransformer } from '../lib';
import { loadTrainConfig } from '../lib/cli/train-config';
import { buildTrainingRun } from '../lib/cli/train-run';
import { batchScaledLearningRates } from '../lib/train/lr-scaling';
import { BATCH_SCALING, OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS, OptimizerKind } from '../lib/train/optimizer-defaults';
import { recipe, RecipeManifest } from './recipe-fixtures';
import { CLASSES, ensureFixtures, IDX_TRAIN, TINY_MODEL } from './train-cli-fixtures';

const MODEL = TINY_MODEL;
const factories: Record<OptimizerKind, (model: VisionTransformer) => Optimizer> = {
  sgd: (model) => sgd(model),
  adam: (model) => adam(model),
  adamw: (model) => adamw(model),
};

let article: RecipeManifest;
let work: string;

beforeAll(() => {
  ensureFixtures();
  article = recipe();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-optimizer-defaults-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** A config that names the optimizer's kind and nothing else of the training settings. */
function configFor(kind: OptimizerKind): string {
  const file = path.join(work, `${kind}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      model: MODEL,
      classes: CLASSES,
      data: { train: IDX_TRAIN },
      train: { optimizer: { kind }, threads: 1 },
    }),
  );
  return file;
}

test("the fixture is the article's repository", () => {
  expect(article.repository).toBe('https://github.com/bubbliiiing/classification-pytorch');
  expect(Object.keys(article.optimizers).sort()).toEqual([...OPTIMIZER_KINDS].sort());
});

describe.each(OPTIMIZER_KINDS)('%s', (kind) => {
  test("the table holds the article's settings", () => {
    const want = article.optimizers[kind];
    const { minLr: _minLr, ...settings } = want;
    const table = OPTIMIZER_DEFAULTS[kind] as Record<string, unknown>;
    // Every setting torch.optim reports is in the table, with the article's value; fused is vitorch's own switch.
    expect(Object.fromEntries(Object.keys(settings).map((key) => [key, table[key]]))).toEqual(settings);
    expect(BATCH_SCALING.lrLimits[kind]).toEqual(article.batchScaling.lrLimits[kind]);
  });

  test("the library's factory with no options runs at the article's lr and weight decay", () => {
    const model = new VisionTransformer(MODEL);
    try {
      const optimizer = factories[kind](model);
      expect(optimizer.kind).toBe(kind);
      // The optimizer is configuration; the Trainer builds it and reports what it runs with.
      const trainer = new Trainer(model, { optimizer });
      expect(trainer.lr).toBe(article.optimizers[kind].lr);
      expect(trainer.groups.map((g) => g.weightDecay)).toEqual([article.optimizers[kind].weightDecay]);
    } finally {
      model.dispose();
    }
  });

  test("the CLI config resolves to the article's settings, and `vitorch train` builds its optimizer with them", async () => {
    const config = await loadTrainConfig(configFor(kind));
    const want = article.optimizers[kind];
    const t = config.train;
    expect({ lr: t.lr, minLr: t.minLr, weightDecay: t.optimizer.weightDecay }).toEqual({
      lr: want.lr,
      minLr: want.minLr,
      weightDecay: want.weightDecay,
    });
    if (kind === 'sgd')
      expect({ momentum: t.optimizer.momentum, nesterov: t.optimizer.nesterov }).toEqual({
        momentum: want.momentum,
        nesterov: want.nesterov,
      });
    else expect(t.optimizer.betas).toEqual(want.betas);
    expect({
      epochs: t.epochs,
      batchSize: t.batchSize,
      freezeBatchSize: t.freezeBatchSize,
      savePeriod: t.savePeriod,
      lrScaling: t.lrScaling,
    }).toEqual({
      ...{
        epochs: article.train.epochs,
        batchSize: article.train.batchSize,
        freezeBatchSize: article.train.freezeBatchSize,
      },
      savePeriod: article.train.savePeriod,
      lrScaling: 'batch-size',
    });
    expect(t.schedule.kind).toBe(article.train.lrDecayType === 'cos' ? 'quadratic-warmup-cosine' : 'step-decay');

    // What the command trains with: the lr scaled for its batch size as train.py:362 scales it.
    const run = await buildTrainingRun(config);
    try {
      expect(run.optimizer.kind).toBe(kind);
      expect(run.trainer.lr).toBe(article.train.fitted[kind].lr);
      expect(run.trainer.groups.map((g) => g.weightDecay)).toEqual([want.weightDecay]);
      expect(run.fitOptions.schedule(t.batchSize).lrAt(t.epochs - 1)).toBe(article.train.fitted[kind].minLr);
    } finally {
      run.model.dispose();
    }
  });
});

test("the batch-size rule gives the article's Init_lr_fit and Min_lr_fit (train.py:362-363)", () => {
  expect(BATCH_SCALING.nbs).toBe(article.batchScaling.nbs);
  expect(BATCH_SCALING.minLrRatio).toBe(article.batchScaling.minLrRatio);
  for (const c of article.batchScaling.cases) {
    const got = batchScaledLearningRates({
      optimizer: c.optimizer,
      batchSize: c.batchSize,
      initLr: c.initLr,
      minLr: c.minLr,
    });
    expect([c, got.lr, got.minLr]).toEqual([c, c.fittedLr, c.fittedMinLr]);
  }
  // Left out, initLr and minLr are the optimizer's defaults.
  for (const kind of OPTIMIZER_KINDS) {
    expect(batchScaledLearningRates({ optimizer: kind, batchSize: article.train.batchSize })).toEqual({
      lr: article.train.fitted[kind].lr,
      minLr: article.train.fitted[kind].minLr,
    });
  }
});
