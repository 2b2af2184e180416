// The article's recipe as tools/make_recipe_fixtures.py writes it (from its repository's train.py and utils/utils.py
// by way of tools/article_recipe.py, and torch.optim): the oracle of the optimizer defaults and of the learning rates
// of a run. Made on first use or when a tool changed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { NativeOptimizerSpec } from '../lib/binding';
import type { OptimizerKind } from '../lib/train/optimizer-defaults';

const ROOT = path.join(__dirname, '..');
const OUT = path.join(__dirname, 'fixtures', 'generated', 'recipe');
const TOOLS = ['make_recipe_fixtures.py', 'article_recipe.py'].map((tool) => path.join(ROOT, 'tools', tool));

/** An optimizer's settings as torch.optim reports them (the native spec's, less what only vitorch has), and its minLr. */
export type RecipeOptimizer = Omit<NativeOptimizerSpec, 'kind' | 'fused' | 'groups'> & { minLr: number };

export interface RecipeManifest {
  repository: string;
  commit: string;
  optimizers: Record<OptimizerKind, RecipeOptimizer>;
  batchScaling: {
    minLrRatio: number;
    nbs: number;
    lrLimits: Record<OptimizerKind, [number, number]>;
    cases: {
      optimizer: OptimizerKind;
      batchSize: number;
      initLr: number;
      minLr: number;
      fittedLr: number;
      fittedMinLr: number;
    }[];
  };
  train: {
    epochs: number;
    batchSize: number;
    freezeBatchSize: number;
    savePeriod: number;
    lrDecayType: string;
    fitted: Record<OptimizerKind, { lr: number; minLr: number }>;
  };
  runs: {
    trainFit: {
      optimizer: OptimizerKind;
      initLr: number;
      minLr: number;
      epochs: number;
      freezeEpochs: number;
      freezeBatchSize: number;
      batchSize: number;
      rates: { epoch: number; batchSize: number; lr: number }[];
    };
  };
}

export function recipe(): RecipeManifest {
  const manifest = path.join(OUT, 'manifest.json');
  if (!fs.existsSync(manifest) || TOOLS.some((tool) => fs.statSync(manifest).mtimeMs < fs.statSync(tool).mtimeMs)) {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'python.js'), TOOLS[0], '--out', OUT], {
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`tools/make_recipe_fixtures.py failed (${run.status}):\n${run.stderr}`);
  }
  return JSON.parse(fs.readFileSync(manifest, 'utf8')) as RecipeManifest;
}

/** |actual - wanted| <= tolerance * |wanted|, with a message that names the value. */
export function expectRelativelyClose(actual: number, wanted: number, tolerance: number, where: string): void {
  const error = Math.abs(actual - wanted);
  if (!(error <= tolerance * Math.abs(wanted))) {
    throw new Error(`${where}: got ${actual}, the article's ${wanted} (relative error ${error / Math.abs(wanted)})`);
  }
}
