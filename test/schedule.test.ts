// The learning-rate schedules and the article's lr scaling against tools/schedule_reference.py: timm's own
// CosineLRScheduler for warmupCosine, the article's repository's own get_lr_scheduler (utils/utils.py) and train.py
// lines (tools/article_recipe.py) for its rules.
// Tolerance: 1e-12 relative to the expected value (both sides are IEEE doubles doing the same operations; what
// differs is at most an ulp of cos or pow).
import { spawnSync } from 'child_process';
import * as path from 'path';
import {
  floorDivide,
  perStep,
  quadraticWarmupCosine,
  Schedule,
  SCHEDULE_DEFAULTS,
  stepDecay,
  warmupCosine,
} from '../lib/train/schedule';
import { batchScaledLearningRates } from '../lib/train/lr-scaling';
import { BATCH_SCALING, OPTIMIZER_DEFAULTS } from '../lib/train/optimizer-defaults';

const root = path.join(__dirname, '..');
const TOLERANCE = 1e-12;

interface Case {
  rule: string;
  options: Record<string, unknown>;
  positions: number[];
}

function oracle(cases: Case[]): unknown[][] {
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'python.js'), path.join(root, 'tools', 'schedule_reference.py')],
    { input: JSON.stringify({ cases }), encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (run.status !== 0) throw new Error(`schedule_reference.py failed (${run.status}): ${run.stderr}`);
  return (JSON.parse(run.stdout) as { results: unknown[][] }).results;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function expectClose(actual: number, wanted: number, where: string): void {
  const error = Math.abs(actual - wanted);
  if (!(error <= TOLERANCE * Math.abs(wanted))) {
    throw new Error(`${where}: got ${actual}, oracle ${wanted} (relative error ${error / Math.abs(wanted)})`);
  }
}

function expectRates(got: { lr: number; minLr: number }, wanted: { lr: number; minLr: number }): void {
  expectClose(got.lr, wanted.lr, 'lr');
  expectClose(got.minLr, wanted.minLr, 'minLr');
}

// Positions around the places where a rule changes branch, plus a fractional sweep.
function positionsFor(total: number, marks: number[]): number[] {
  const around = marks.flatMap((m) => [m - 1e-9, m, m + 1e-9, m - 0.5, m + 0.5]);
  const sweep = range(Math.ceil(total * 4) + 8).map((i) => i / 4);
  return [...new Set([...range(Math.ceil(total) + 3), ...around, ...sweep])]
    .filter((p) => p >= 0)
    .sort((a, b) => a - b);
}

// Every case is built here and sent to Python in one run.
const cosCases: Case[] = [];
for (const total of [1, 2, 3, 5, 20, 21, 60, 100, 300, 400]) {
  for (const [lr, minLr] of [
    [1e-2, 1e-4],
    [1e-3, 0],
    [5e-6, 5e-8],
  ]) {
    const w = Math.min(Math.max(0.05 * total, 1), 3);
    const n = Math.min(Math.max(0.05 * total, 1), 15);
    cosCases.push({
      rule: 'quadraticWarmupCosine',
      options: { lr, minLr, total },
      positions: positionsFor(total, [w, total - n]),
    });
  }
}
cosCases.push({
  rule: 'quadraticWarmupCosine',
  options: { lr: 0.1, minLr: 0.001, total: 50, warmupRatio: 0.1, warmupLrRatio: 0.2, noAugRatio: 0.2 },
  positions: positionsFor(50, [3, 40]),
});

const stepCases: Case[] = [];
for (const [total, steps] of [
  [10, 10],
  [11, 10],
  [20, 10],
  [33, 10],
  [100, 10],
  [7, 2],
  [30, 3],
  [300, 7],
]) {
  stepCases.push({
    rule: 'stepDecay',
    options: { lr: 1e-2, minLr: 1e-4, total, steps },
    positions: positionsFor(
      total,
      range(steps + 1).map((k) => (k * total) / steps),
    ),
  });
}

const timmCases: Case[] = [];
for (const [lr, minLr, warmup, total, warmupStartLr] of [
  [1e-3, 0, 0, 10, 0],
  [1e-3, 1e-5, 5, 100, 1e-6],
  [0.1, 0.001, 3, 20, 0],
  [5e-4, 1e-6, 1, 2, 1e-5],
  [1e-3, 0, 0.5, 3, 0],
]) {
  for (const warmupPrefix of [false, true]) {
    timmCases.push({
      rule: 'timmCosine',
      options: { lr, minLr, warmup, total, warmupStartLr, warmupPrefix },
      positions: positionsFor(total, [warmup, total]),
    });
  }
}
// Per-step use, as timm's step_update: thousands of steps with a warmup of a few hundred.
const stepPositions = [...range(600), ...range(200).map((i) => 600 + i * 47), 9998, 9999, 10000, 10001];
timmCases.push({
  rule: 'timmCosine',
  options: { lr: 5e-4, minLr: 1e-5, warmup: 500, total: 10000, warmupStartLr: 1e-6 },
  positions: stepPositions,
});

const lrCases: Case[] = [];
const batchSizes = [1, 2, 3, 4, 8, 12, 16, 32, 64, 100, 128, 256, 512, 1000, 2048, 2560, 2561, 4096, 65536];
for (const optimizer of ['sgd', 'adam', 'adamw'] as const) {
  for (const initLr of [OPTIMIZER_DEFAULTS[optimizer].lr, 3e-2, 1e-4, 1e-1]) {
    for (const nbs of [256, 64]) {
      lrCases.push({
        rule: 'batchScaledLearningRates',
        options: { optimizer, initLr, minLr: initLr * 0.01, nbs },
        positions: batchSizes,
      });
    }
  }
}

const allCases = [...cosCases, ...stepCases, ...timmCases, ...lrCases];
let expectedResults: unknown[][];
beforeAll(() => {
  expectedResults = oracle(allCases);
});

function resultsOf(cases: Case[]): unknown[][] {
  const start = allCases.indexOf(cases[0]);
  return expectedResults.slice(start, start + cases.length);
}

function checkCases(cases: Case[], make: (options: Record<string, unknown>) => Schedule): void {
  const results = resultsOf(cases);
  cases.forEach((c, i) => {
    const schedule = make(c.options);
    c.positions.forEach((p, j) =>
      expectClose(schedule.lrAt(p), results[i][j] as number, `${c.rule} ${JSON.stringify(c.options)} at ${p}`),
    );
  });
}

describe('quadraticWarmupCosine', () => {
  test('matches the formula at every epoch, fractional positions and both boundaries, T from 1 to 400', () => {
    checkCases(cosCases, (o) => quadraticWarmupCosine(o as never));
  });

  test('boundaries: e = W is the peak lr, e = T - N is minLr, and warmup wins over the flat end for small T', () => {
    const s = quadraticWarmupCosine({ lr: 1e-2, minLr: 1e-4, total: 100 }); // W = 3, N = 5
    expect(s.lrAt(0)).toBe(1e-3);
    expectClose(s.lrAt(3), 1e-2, 'e = W'); // (lr - s) * 1 + s: exact up to rounding, in the article's code too
    expect(s.lrAt(95)).toBe(1e-4);
    expect(s.lrAt(94.999)).toBeGreaterThan(1e-4);
    const two = quadraticWarmupCosine({ lr: 1e-2, minLr: 1e-4, total: 2 }); // W = 1, N = 1: epoch 1 is both; the article says warmup
    expect(two.lrAt(0)).toBe(1e-3);
    expectClose(two.lrAt(1), 1e-2, 'T = 2, e = 1');
    expect(quadraticWarmupCosine({ lr: 1e-2, minLr: 1e-4, total: 1 }).lrAt(0)).toBe(1e-3);
    expect(quadraticWarmupCosine({ lr: 1e-6, minLr: 0, total: 10 }).lrAt(0)).toBe(1e-6); // s = max(0.1 lr, 1e-6)
  });

  test('perStep samples the epoch curve at step / stepsPerEpoch, exact at epoch boundaries', () => {
    const epochs = quadraticWarmupCosine({ lr: 1e-2, minLr: 1e-4, total: 20 });
    const steps = perStep(epochs, 7);
    expect(steps.unit).toBe('step');
    expect(steps.kind).toBe('perStep(quadraticWarmupCosine)');
    for (let e = 0; e <= 20; e++) expect(steps.lrAt(e * 7)).toBe(epochs.lrAt(e));
    expect(steps.lrAt(3)).toBe(epochs.lrAt(3 / 7));
  });
});

describe('stepDecay', () => {
  test('matches the formula, including total / steps that is not a whole number', () => {
    checkCases(stepCases, (o) => stepDecay(o as never));
  });

  test("floors the exact quotient as Python's // does: epoch 11 of 11 with 10 steps is plateau 9, not 10", () => {
    expect(Math.floor(11 / 1.1)).toBe(10);
    expect(floorDivide(11, 1.1)).toBe(9);
    const s = stepDecay({ lr: 1e-2, minLr: 1e-4, total: 11 });
    expect(s.lrAt(11)).toBe(s.lrAt(10.5));
    expect(floorDivide(-1, 3)).toBe(-1);
    expect(floorDivide(7, 7)).toBe(1);
  });

  test('plateaus: lr on the first, minLr on the last', () => {
    const s = stepDecay({ lr: 1e-2, minLr: 1e-4, total: 100 });
    expect(s.lrAt(0)).toBe(1e-2);
    expect(s.lrAt(9.99)).toBe(1e-2);
    expect(s.lrAt(90)).toBeCloseTo(1e-4, 17);
    expect(SCHEDULE_DEFAULTS.steps).toBe(10);
  });
});

describe('warmupCosine', () => {
  test("matches timm's CosineLRScheduler, with and without warmup_prefix, at epochs and fractional positions", () => {
    checkCases(timmCases, (o) => warmupCosine(o as never));
  });

  test('without the prefix the warmup overlays the cosine (timm t_initial = total); with it the cosine starts at lr', () => {
    const overlay = warmupCosine({ lr: 0.1, minLr: 0, warmup: 5, total: 20 });
    expect(overlay.lrAt(0)).toBe(0);
    expect(overlay.lrAt(5)).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(overlay.lrAt(20)).toBe(0);
    const prefix = warmupCosine({ lr: 0.1, minLr: 0, warmup: 5, total: 20, warmupPrefix: true, unit: 'step' });
    expect(prefix.lrAt(5)).toBe(0.1);
    expect(prefix.unit).toBe('step');
  });
});

describe('batchScaledLearningRates', () => {
  test("matches the article's scaling and clamps for sgd, adam and adamw over batch sizes 1 to 65536", () => {
    const results = resultsOf(lrCases);
    lrCases.forEach((c, i) => {
      c.positions.forEach((batchSize, j) => {
        const got = batchScaledLearningRates({ ...(c.options as never), batchSize });
        const [lr, minLr] = results[i][j] as [number, number];
        expectClose(got.lr, lr, `lr ${JSON.stringify(c.options)} batch ${batchSize}`);
        expectClose(got.minLr, minLr, `minLr ${JSON.stringify(c.options)} batch ${batchSize}`);
      });
    });
  });

  test("clamps at both ends and defaults to the article's settings", () => {
    expectRates(batchScaledLearningRates({ optimizer: 'sgd', batchSize: 1 }), { lr: 5e-4, minLr: 5e-6 });
    expectRates(batchScaledLearningRates({ optimizer: 'sgd', batchSize: 4096 }), { lr: 0.1, minLr: 1e-3 });
    expectRates(batchScaledLearningRates({ optimizer: 'sgd', batchSize: 256 }), { lr: 1e-2, minLr: 1e-4 });
    expectRates(batchScaledLearningRates({ optimizer: 'adam', batchSize: 1 }), { lr: 1e-5, minLr: 1e-7 });
    expectRates(batchScaledLearningRates({ optimizer: 'adam', batchSize: 512 }), { lr: 1e-3, minLr: 1e-5 });
    expectRates(batchScaledLearningRates({ optimizer: 'adamw', batchSize: 128 }), { lr: 5e-4, minLr: 5e-6 });
    expectRates(batchScaledLearningRates({ optimizer: 'adam', batchSize: 16, initLr: 1e-3, minLr: 1e-5, nbs: 64 }), {
      lr: 2.5e-4,
      minLr: 2.5e-6,
    });
    expect(BATCH_SCALING.lrLimits.adamw).toEqual(BATCH_SCALING.lrLimits.adam);
  });
});

describe('bad arguments', () => {
  const cases: [string, () => unknown, ErrorConstructor, string][] = [
    [
      'quadraticWarmupCosine without options',
      () => quadraticWarmupCosine(undefined as never),
      TypeError,
      'expected a number for quadraticWarmupCosine lr, received undefined',
    ],
    [
      'quadraticWarmupCosine lr string',
      () => quadraticWarmupCosine({ lr: '0.1' as never, minLr: 0, total: 10 }),
      TypeError,
      "expected a number for quadraticWarmupCosine lr, received the string '0.1'",
    ],
    [
      'quadraticWarmupCosine lr 0',
      () => quadraticWarmupCosine({ lr: 0, minLr: 0, total: 10 }),
      RangeError,
      'expected a number > 0 for quadraticWarmupCosine lr, received number 0',
    ],
    [
      'quadraticWarmupCosine minLr above lr',
      () => quadraticWarmupCosine({ lr: 1e-3, minLr: 1e-2, total: 10 }),
      RangeError,
      'expected a number in [0, lr = 0.001] for quadraticWarmupCosine minLr, received number 0.01',
    ],
    [
      'quadraticWarmupCosine total NaN',
      () => quadraticWarmupCosine({ lr: 1e-3, minLr: 0, total: NaN }),
      RangeError,
      'expected a number > 0 for quadraticWarmupCosine total, received number NaN',
    ],
    [
      'quadraticWarmupCosine typo',
      () => quadraticWarmupCosine({ lr: 1e-3, minLr: 0, total: 10, warmupRation: 0.1 } as never),
      TypeError,
      "unknown option 'warmupRation' for quadraticWarmupCosine; known options: lr, minLr, total, warmupRatio, warmupLrRatio, noAugRatio",
    ],
    [
      'quadraticWarmupCosine options array',
      () => quadraticWarmupCosine([] as never),
      TypeError,
      'expected an options object for quadraticWarmupCosine options, received []',
    ],
    [
      'stepDecay step_size < 1',
      () => stepDecay({ lr: 1e-2, minLr: 1e-4, total: 5 }),
      RangeError,
      `expected total / steps >= 1 (plateaus of at least one epoch; the article's "step_size must above 1.") for stepDecay, received total 5 / steps 10 = 0.5`,
    ],
    [
      'stepDecay steps 1',
      () => stepDecay({ lr: 1e-2, minLr: 1e-4, total: 5, steps: 1 }),
      RangeError,
      'expected an integer >= 2 for stepDecay steps, received number 1',
    ],
    [
      'stepDecay steps 2.5',
      () => stepDecay({ lr: 1e-2, minLr: 1e-4, total: 5, steps: 2.5 }),
      RangeError,
      'expected an integer >= 2 for stepDecay steps, received number 2.5',
    ],
    [
      'warmupCosine total <= warmup',
      () => warmupCosine({ lr: 1e-3, warmup: 10, total: 10 }),
      RangeError,
      'expected a number > warmup (10) for warmupCosine total, received number 10',
    ],
    [
      'warmupCosine unit',
      () => warmupCosine({ lr: 1e-3, warmup: 1, total: 10, unit: 'epochs' as never }),
      TypeError,
      "expected 'epoch' or 'step' for warmupCosine unit, received the string 'epochs'",
    ],
    [
      'warmupCosine warmupPrefix',
      () => warmupCosine({ lr: 1e-3, warmup: 1, total: 10, warmupPrefix: 1 as never }),
      TypeError,
      'expected a boolean for warmupCosine warmupPrefix, received number 1',
    ],
    [
      'lrAt negative',
      () => quadraticWarmupCosine({ lr: 1e-3, minLr: 0, total: 10 }).lrAt(-1),
      RangeError,
      'expected a finite number >= 0 for quadraticWarmupCosine position, received number -1',
    ],
    [
      'lrAt string',
      () => stepDecay({ lr: 1e-3, minLr: 0, total: 10 }).lrAt('3' as never),
      TypeError,
      "expected a number for stepDecay position, received the string '3'",
    ],
    [
      'perStep of a step schedule',
      () => perStep(warmupCosine({ lr: 1, warmup: 0, total: 9, unit: 'step' }), 3),
      RangeError,
      "expected a schedule with unit 'epoch' for perStep schedule, received the string 'unit 'step''",
    ],
    [
      'perStep stepsPerEpoch 0',
      () => perStep(quadraticWarmupCosine({ lr: 1, minLr: 0, total: 9 }), 0),
      RangeError,
      'expected an integer >= 1 for perStep stepsPerEpoch, received number 0',
    ],
    [
      'batchScaledLearningRates optimizer',
      () => batchScaledLearningRates({ optimizer: 'rmsprop' as never, batchSize: 8 }),
      RangeError,
      "expected 'sgd', 'adam' or 'adamw' for batchScaledLearningRates optimizer, received the string 'rmsprop'",
    ],
    [
      'batchScaledLearningRates optimizer type',
      () => batchScaledLearningRates({ optimizer: 3 as never, batchSize: 8 }),
      TypeError,
      "expected 'sgd', 'adam' or 'adamw' for batchScaledLearningRates optimizer, received number 3",
    ],
    [
      'batchScaledLearningRates batchSize',
      () => batchScaledLearningRates({ optimizer: 'sgd', batchSize: 0 }),
      RangeError,
      'expected an integer >= 1 for batchScaledLearningRates batchSize, received number 0',
    ],
    [
      'batchScaledLearningRates minLr > initLr',
      () => batchScaledLearningRates({ optimizer: 'sgd', batchSize: 8, initLr: 1e-3, minLr: 1 }),
      RangeError,
      'expected a number in [0, initLr = 0.001] for batchScaledLearningRates minLr, received number 1',
    ],
  ];
  test.each(cases)('%s', (_name, call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
    try {
      call();
    } catch (error) {
      expect((error as Error).message).toBe(message);
      expect((error as Error).constructor).toBe(type);
    }
  });
});
