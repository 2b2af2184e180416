// `vitorch eval --weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E] [--out DIR]
//  [--json] [--predictions FILE] [--batch-size N] [--dtype D] [--skip-unknown-globals] [--data.val.KEY VALUE ...]`
//
// Evaluates trained weights on the config's validation set (data.val, which the flags may replace): top-1 and top-5
// accuracy, mean cross-entropy, per-class precision and recall, and the confusion matrix, printed as tables (or as
// one JSON object with --json) and written as confusion.csv, per_class.csv and confusion.svg into --out (default:
// the folder of --weights); --predictions FILE also writes every image's label and top-1 class as CSV. The config
// is any that lib/classifier.ts reads (the config.json `vitorch train` writes, a training config, the embedded
// model's); one without data.val is given it by the flags. --dtype evaluates the model at another precision
// (lib/inference-precision.ts: bfloat16, or int8 for dynamic quantization on the CPU), as `serve --dtype` runs it.
// Without --config the weights are read as loadPretrained reads them (lib/pretrained/pretrained-classifier.ts: the
// model, classes and preprocessing the checkpoint states), the data given by the flags, and the report's `config`
// is null; --out then defaults to the weights' folder itself when --weights names a folder.
import * as fs from 'fs';
import * as path from 'path';
import { Classifier, loadClassifier, readConfigJson, resolveClassifierConfig } from '../classifier';
import type { ResolvedClassifierConfig } from '../classifier';
import { BatchLoader } from '../data/loader';
import { ConfigError } from '../errors';
import { INFERENCE_PRECISIONS, inferencePrecisionOf } from '../inference-precision';
import type { InferencePrecision } from '../inference-precision';
import type { VisionTransformer } from '../model';
import { loadPretrainedClassifier } from '../pretrained/pretrained-classifier';
import { confusion, Confusion } from '../report/confusion';
import { writeConfusionFiles } from '../report/confusion-files';
import { formatCsv } from '../report/csv';
import { sgd } from '../train/optimizer';
import { Evaluation, Trainer } from '../train/trainer';
import { expected } from '../validate';
import { choiceFlag, integerFlag, parseArgs, stringFlag, UsageError } from './args';
import type { ParsedArgs } from './args';
import { dataSourceFrom, datasetFrom, NO_AUGMENT } from './datasets';
import { PRETRAINED_FLAGS, pretrainedOptions, refusePretrainedFlagsWithConfig } from './pretrained-flags';
import { OutputError, runCommand } from './run-command';
import type { DataSource } from './train-config';

export const EVAL_USAGE =
  'usage: vitorch eval --weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E] ' +
  '[--out DIR] [--json] [--predictions FILE] [--batch-size N] [--dtype D] [--skip-unknown-globals] ' +
  '[--data.val.KEY VALUE ...]';

/** What `--json` prints. Precision and recall are null where undefined (0 / 0: a class never predicted, or with
 *  no samples), which is also how JSON.stringify writes NaN. */
export interface EvalReport {
  weights: string;
  /** The config read; null when the weights were read without one (loadPretrained). */
  config: string | null;
  /** The precision the model ran in (--dtype; float32 by default). */
  dtype: InferencePrecision;
  data: DataSource;
  count: number;
  loss: number;
  top1: number;
  top5: number;
  perClass: { name: string; precision: number | null; recall: number | null; support: number }[];
  /** The class names, in the order of the matrix's rows and columns. */
  classes: string[];
  /** confusion[trueClass][predictedClass] = how many images. */
  confusion: number[][];
}

const PATH_KEYS = ['images', 'labels', 'file', 'root'];

/**
 * The data to evaluate on: the config's data.val, changed or replaced by the flags' overrides of it (the model and
 * its preprocessing are what the weights were trained with, so changing them here could only make the numbers
 * wrong). Paths typed on the command line are taken relative to where they were typed, those inside the config to
 * the config's folder. A new data.val.format starts a fresh source, since the old one's keys (images, labels) would
 * not belong to it. Null when neither gives a source.
 */
export function evalSource(
  configFile: string,
  raw: Record<string, unknown>,
  overrides: Record<string, unknown>,
): DataSource | null {
  const fields: Record<string, unknown> = {};
  let whole: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(overrides)) {
    if (key === 'data.val') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new UsageError(`expected a JSON object for --data.val, received '${JSON.stringify(value)}'`);
      }
      whole = { ...(value as Record<string, unknown>) };
    } else if (key.startsWith('data.val.') && key.split('.').length === 3) {
      fields[key.slice('data.val.'.length)] = value;
    } else {
      throw new UsageError(
        `unknown option --${key} (eval takes config overrides of data.val only: --data.val.KEY VALUE)`,
      );
    }
  }
  for (const o of [fields, whole ?? {}]) {
    for (const key of PATH_KEYS)
      if (typeof o[key] === 'string' && o[key] !== '') o[key] = path.resolve(o[key] as string);
  }
  const data = raw.data;
  if (data !== undefined && data !== null && (typeof data !== 'object' || Array.isArray(data))) {
    throw new ConfigError(configFile, expected('an object', 'data', data));
  }
  const inConfig = (data as { val?: unknown } | undefined | null)?.val ?? null;
  let val: unknown;
  if (whole !== undefined || 'format' in fields) val = { ...(whole ?? {}), ...fields };
  else if (Object.keys(fields).length > 0) val = { ...(typeof inConfig === 'object' ? inConfig : {}), ...fields };
  else val = inConfig;
  return val === null ? null : dataSourceFrom(val, 'data.val', configFile, path.dirname(configFile));
}

/** The one file or folder a data source reads, for messages. */
export function describeSource(source: DataSource): string {
  switch (source.format) {
    case 'idx':
      return `${source.images} (labels ${source.labels})`;
    case 'annotations':
      return source.file;
    case 'folder':
      return source.root;
  }
}

/** Runs the model over every image of `source`, in order, without augmentation. */
export async function evaluateOn(
  config: ResolvedClassifierConfig,
  source: DataSource,
  model: VisionTransformer,
  batchSize: number,
): Promise<Evaluation> {
  const dataset = await datasetFrom(source, config.preprocess, NO_AUGMENT, config.classes);
  // Trainer.evaluate is the loss and top-k of training's own validation; it needs an optimizer only to reach the
  // native model, and SGD's state is allocated lazily, so this one costs nothing.
  using trainer = new Trainer(model, { optimizer: sgd(model) });
  const loader = new BatchLoader(dataset, { batchSize, prefetch: 2 });
  // With fewer than five classes every image is within the top five: top-k over all classes says exactly that.
  return await trainer.evaluateAll(loader.epoch(0), Math.min(5, config.classes.length));
}

export function evalReport(
  weights: string,
  configFile: string | null,
  dtype: InferencePrecision,
  source: DataSource,
  e: Evaluation,
  c: Confusion,
): EvalReport {
  const orNull = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    weights,
    config: configFile,
    dtype,
    data: source,
    count: e.count,
    loss: e.loss,
    top1: e.top1,
    top5: e.topk,
    perClass: c.classNames.map((name, i) => ({
      name,
      precision: orNull(c.precision[i]),
      recall: orNull(c.recall[i]),
      support: c.support[i],
    })),
    classes: [...c.classNames],
    confusion: c.matrix.map((row) => [...row]),
  };
}

/** One row per image, in dataset order: its index, true and predicted class (index and name). */
export function predictionsCsv(e: Evaluation, classes: readonly string[]): string {
  const rows = Array.from(e.labels, (label, i) => [
    i,
    label,
    classes[label],
    e.predictions[i],
    classes[e.predictions[i]],
  ]);
  return formatCsv([['index', 'label', 'label_name', 'predicted', 'predicted_name'], ...rows]);
}

const percent = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(2)}%`);

/** The human-readable report: summary, per-class table, confusion matrix with numbered columns. */
export function formatEvalReport(r: EvalReport): string {
  const lines = [
    `weights    ${r.weights}`,
    `dtype      ${r.dtype}`,
    `data       ${describeSource(r.data)}: ${r.count} images`,
    `top-1      ${percent(r.top1)}`,
    `top-5      ${percent(r.top5)}`,
    `loss       ${r.loss.toFixed(4)}`,
    '',
  ];
  const nameWidth = Math.max(5, ...r.classes.map((n) => n.length));
  lines.push(`${'#'.padStart(3)}  ${'class'.padEnd(nameWidth)}  precision     recall  support`);
  r.perClass.forEach((p, i) => {
    lines.push(
      `${String(i).padStart(3)}  ${p.name.padEnd(nameWidth)}  ${percent(p.precision).padStart(9)}  ` +
        `${percent(p.recall).padStart(9)}  ${String(p.support).padStart(7)}`,
    );
  });
  if (r.perClass.some((p) => p.precision === null || p.recall === null)) {
    lines.push('(-: undefined, the class was never predicted or has no images)');
  }
  lines.push('', 'confusion matrix (rows: true class, columns: predicted class, by #)');
  const cell = Math.max(4, ...r.confusion.flat().map((n) => String(n).length + 1));
  lines.push(`${' '.repeat(3 + 2 + nameWidth)}${r.classes.map((_, j) => String(j).padStart(cell)).join('')}`);
  r.confusion.forEach((row, i) => {
    lines.push(
      `${String(i).padStart(3)}  ${r.classes[i].padEnd(nameWidth)}${row.map((n) => String(n).padStart(cell)).join('')}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

export async function evalCommand(args: string[]): Promise<number> {
  return runCommand('eval', EVAL_USAGE, async () => {
    const parsed = parseArgs(
      args,
      ['weights', 'config', 'out', 'predictions', 'batch-size', 'dtype', ...PRETRAINED_FLAGS],
      ['json', 'skip-unknown-globals'],
      { positionals: false },
    );
    const weights = stringFlag(parsed, 'weights');
    if (!weights) throw new UsageError('--weights is required');
    const configFile = stringFlag(parsed, 'config') ?? null;
    const batchSize = integerFlag(parsed, 'batch-size') ?? 256;
    const dtype = choiceFlag(parsed, 'dtype', INFERENCE_PRECISIONS);
    const isFolder = fs.existsSync(weights) && fs.statSync(weights).isDirectory();
    const outDir = stringFlag(parsed, 'out') ?? (isFolder ? weights : path.dirname(weights));

    let evaluation: Evaluation;
    let precision: InferencePrecision;
    let config: ResolvedClassifierConfig;
    let source: DataSource;
    {
      using loaded = await evaluationClassifier(parsed, weights, configFile, dtype);
      ({ config, source } = loaded);
      precision = inferencePrecisionOf(loaded.classifier.model);
      evaluation = await evaluateOn(config, source, loaded.classifier.model, batchSize);
    }
    const c = confusion(evaluation.labels, evaluation.predictions, config.classes);
    const report = evalReport(weights, configFile, precision, source, evaluation, c);
    process.stdout.write(parsed.flags.has('json') ? `${JSON.stringify(report)}\n` : formatEvalReport(report));

    try {
      fs.mkdirSync(outDir, { recursive: true });
      writeConfusionFiles(outDir, c, `vitorch eval: ${path.basename(weights)} on ${evaluation.count} images`);
    } catch (error) {
      throw new OutputError(outDir, `cannot write the report: ${(error as Error).message}`);
    }
    const predictionsFile = stringFlag(parsed, 'predictions');
    if (predictionsFile !== undefined) {
      try {
        fs.writeFileSync(predictionsFile, predictionsCsv(evaluation, config.classes));
      } catch (error) {
        throw new OutputError(predictionsFile, `cannot write the predictions: ${(error as Error).message}`);
      }
    }
    console.error(`vitorch eval: wrote confusion.csv, per_class.csv and confusion.svg to ${outDir}`);
    return 0;
  });
}

/** The model to evaluate, its config and the data: --config's (the data its data.val or the flags'), or without
 *  --config what loadPretrained reads in the weights (the data the flags'), its notes said on stderr. The data
 *  source is checked before the weights are read, so that a missing one costs no load. */
async function evaluationClassifier(
  parsed: ParsedArgs,
  weights: string,
  configFile: string | null,
  dtype: InferencePrecision | undefined,
): Promise<{ classifier: Classifier; config: ResolvedClassifierConfig; source: DataSource; [Symbol.dispose](): void }> {
  const noData = (where: string, how: string) =>
    new ConfigError(
      where,
      `no data.val to evaluate: ${how}--data.val.format idx --data.val.images FILE --data.val.labels FILE ` +
        '(or annotations --data.val.file, folder --data.val.root)',
    );
  if (configFile !== null) {
    refusePretrainedFlagsWithConfig(parsed);
    const raw = readConfigJson(configFile);
    const config = resolveClassifierConfig(raw, configFile);
    const source = evalSource(configFile, raw, parsed.overrides);
    if (!source) throw noData(configFile, 'add one to the config, or give it with ');
    const classifier = await loadClassifier(config, weights, {
      skipUnknownGlobals: parsed.flags.has('skip-unknown-globals'),
      dtype,
    });
    return { classifier, config, source, [Symbol.dispose]: () => classifier.dispose() };
  }
  // Only the flags give the data: their paths are resolved against the working folder, their errors name them.
  const source = evalSource('the command line', {}, parsed.overrides);
  if (!source) throw noData(weights, 'without --config give it with ');
  const loaded = await loadPretrainedClassifier(weights, { ...pretrainedOptions(parsed), dtype });
  for (const note of loaded.notes) console.error(`vitorch eval: note: ${note}`);
  const { classifier, config } = loaded;
  return { classifier, config, source, [Symbol.dispose]: () => classifier.dispose() };
}
