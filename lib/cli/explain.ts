// `vitorch explain [--weights W [--config C]] [--out DIR] [--head-fusion mean|max|min] [--discard-ratio 0.9]
//  [--top K] [--alpha 0.5] [--batch-size N] IMAGE...`
//
// What the model looked at, per image: the attention rollout of the class token over the patches (lib/attention.ts)
// drawn over the image with the top class (lib/explain/overlay.ts) as `<name>.explain.png`, and the numbers as
// `<name>.explain.json` (the grid, its options, the top classes, where the grid lies in the image), both in --out
// (default: the working directory). The model: --weights with --config as `predict` loads it; --weights alone, any
// checkpoint loadPretrained reads (with the preprocessing of a vitorch model folder's config.json, else the
// article's, with a transformers folder's mean and std); neither, the embedded Fashion-MNIST model. Images are read
// and decoded by sharp off the event loop, classified and rolled out a batch at a time on the compute thread. An
// image that cannot be read is named on stderr after the others are written, and the exit code is then 1.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../atomic-write';
import { HEAD_FUSIONS, ROLLOUT_DEFAULTS } from '../attention';
import type { HeadFusion } from '../attention';
import { Classifier, defaultClassifier, loadClassifier } from '../classifier';
import { DataError, dataError } from '../data/errors';
import { inputRegion } from '../explain/input-region';
import { drawExplanation, EXPLANATION_DEFAULTS } from '../explain/overlay';
import { modelInput } from '../inference-precision';
import { loadPretrainedClassifier } from '../pretrained/pretrained-classifier';
import type { Prediction } from '../top-classes';
import { choiceFlag, integerFlag, numberFlag, parseArgs, stringFlag, UsageError } from './args';
import { createItemProgress } from './item-progress';
import { OutputError, runCommand } from './run-command';

export const EXPLAIN_USAGE =
  'usage: vitorch explain [--weights FILE|DIR [--config FILE]] [--out DIR] [--head-fusion mean|max|min] ' +
  '[--discard-ratio R] [--top K] [--alpha A] [--batch-size N] IMAGE...';

/** What `<name>.explain.json` holds. */
export interface ExplanationRecord {
  image: string;
  picture: string;
  /** The model's input [height, width] and how the image was brought to it. */
  input: { size: [number, number]; resize: 'center-crop' | 'letterbox' };
  gridH: number;
  gridW: number;
  headFusion: HeadFusion;
  discardRatio: number;
  /** The rollout, gridH rows of gridW values, divided by its maximum. */
  rollout: number[][];
  top: Prediction[];
  imageSize: { width: number; height: number };
  /** The rectangle of the image the grid covers, in the image's pixels (past its edges for a letterbox). */
  region: { left: number; top: number; width: number; height: number };
  /** The picture's size (the image's, enlarged by a whole factor when small) and the heatmap's blend weight. */
  pictureSize: { width: number; height: number };
  alpha: number;
  colormap: 'viridis';
}

interface ExplainOptions {
  outDir: string;
  headFusion: HeadFusion;
  discardRatio: number;
  k: number;
  alpha: number;
  batchSize: number;
}

/** The classifier the flags name. */
async function classifierOf(weights: string | undefined, config: string | undefined): Promise<Classifier> {
  if (config !== undefined && weights === undefined) throw new UsageError('--config needs --weights');
  if (weights === undefined) return defaultClassifier();
  if (config !== undefined) return loadClassifier(config, weights);
  // The same detection as predict, eval and serve: the checkpoint's family, classes and stated preprocessing.
  const { classifier, notes } = await loadPretrainedClassifier(weights);
  for (const note of notes) console.error(`vitorch explain: note: ${note}`);
  return classifier;
}

/** `<out>/<name>.explain` for each image; two images that would write the same files are a usage error. */
function outputStems(images: string[], outDir: string): string[] {
  const seen = new Map<string, string>();
  return images.map((image) => {
    const stem = path.join(outDir, `${path.parse(image).name}.explain`);
    const other = seen.get(stem);
    if (other !== undefined && other !== image) {
      throw new UsageError(
        `${other} and ${image} would both be written as ${stem}.png; explain them into separate --out folders`,
      );
    }
    seen.set(stem, image);
    return stem;
  });
}

/** The record as indented JSON with each row of the grid on one line, so that the file reads as the grid. */
export function recordJson(record: ExplanationRecord): string {
  const marker = '"<rollout rows>"';
  const rows = record.rollout.map((row) => `    ${JSON.stringify(row)}`).join(',\n');
  return `${JSON.stringify({ ...record, rollout: '<rollout rows>' }, null, 2).replace(marker, `[\n${rows}\n  ]`)}\n`;
}

/** Writes `file` whole or not at all; a folder that cannot be written is the output's fault (exit 1). */
async function written(file: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(file, data);
  } catch (error) {
    throw new OutputError(file, `cannot write: ${(error as Error).message}`);
  }
}

async function readImage(file: string): Promise<Uint8Array> {
  try {
    return await fs.promises.readFile(file);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw dataError(file, e.code === 'ENOENT' ? 'no such image file' : `cannot read image: ${e.message}`);
  }
}

/** Explains `images` a batch at a time; each result is written and reported as it comes, failures are returned. */
async function explainImages(
  classifier: Classifier,
  images: string[],
  stems: string[],
  options: ExplainOptions,
  report: (line: string, done: number) => void,
): Promise<DataError[]> {
  const { model, preprocessor } = classifier;
  const [c, h, w] = preprocessor.sampleShape;
  const perImage = c * h * w;
  const failures: DataError[] = [];
  for (let start = 0; start < images.length; start += options.batchSize) {
    const chunk = images.slice(start, start + options.batchSize);
    // sharp decodes on libuv's pool, so a batch's images are read and decoded side by side.
    const loaded = await Promise.allSettled(
      chunk.map(async (image) => {
        const bytes = await readImage(image);
        return { bytes, pixels: await preprocessor.evaluate({ bytes, name: image }) };
      }),
    );
    const good: { index: number; bytes: Uint8Array; pixels: Float32Array }[] = [];
    loaded.forEach((result, i) => {
      if (result.status === 'fulfilled') good.push({ index: start + i, ...result.value });
      else if (result.reason instanceof DataError) failures.push(result.reason);
      else throw result.reason;
    });
    if (chunk.length > good.length) report('', chunk.length - good.length);
    if (good.length === 0) continue;
    const batch = new Float32Array(good.length * perImage);
    good.forEach((g, i) => batch.set(g.pixels, i * perImage));
    const tops = await classifier.classifyPixels(batch, good.length, options.k);
    let rollouts: Float32Array;
    let gridH: number;
    let gridW: number;
    {
      using input = modelInput(model, batch, [good.length, c, h, w]);
      using rollout = await model.attentionRolloutAsync(input, {
        headFusion: options.headFusion,
        discardRatio: options.discardRatio,
      });
      rollouts = rollout.toFloat32Array();
      [, gridH, gridW] = rollout.shape;
    }
    const cells = gridH * gridW;
    // Drawn side by side on sharp's threads; written and reported in the order the images were given.
    const drawn = await Promise.allSettled(
      good.map((g, i) =>
        drawExplanation({
          image: g.bytes,
          name: images[g.index],
          rollout: rollouts.subarray(i * cells, (i + 1) * cells),
          grid: [gridH, gridW],
          preprocess: preprocessor,
          label: tops[i][0].label,
          probability: tops[i][0].probability,
          alpha: options.alpha,
        }),
      ),
    );
    for (const [i, g] of good.entries()) {
      const result = drawn[i];
      if (result.status === 'rejected') {
        if (!(result.reason instanceof DataError)) throw result.reason;
        failures.push(result.reason);
        report('', 1);
        continue;
      }
      const { png, layout, imageSize } = result.value;
      const image = images[g.index];
      const stem = stems[g.index];
      const rollout = rollouts.subarray(i * cells, (i + 1) * cells);
      const record: ExplanationRecord = {
        image,
        picture: `${stem}.png`,
        input: { size: [h, w], resize: preprocessor.resize },
        gridH,
        gridW,
        headFusion: options.headFusion,
        discardRatio: options.discardRatio,
        rollout: Array.from({ length: gridH }, (_, r) => Array.from(rollout.subarray(r * gridW, (r + 1) * gridW))),
        top: tops[i],
        imageSize,
        region: inputRegion(imageSize.width, imageSize.height, preprocessor),
        pictureSize: { width: layout.width, height: layout.height },
        alpha: options.alpha,
        colormap: 'viridis',
      };
      await written(`${stem}.png`, png);
      await written(`${stem}.json`, recordJson(record));
      const best = tops[i][0];
      report(`${image} -> ${stem}.png  ${best.label} ${(best.probability * 100).toFixed(2)}%`, 1);
    }
  }
  return failures;
}

export async function explainCommand(args: string[]): Promise<number> {
  return runCommand('explain', EXPLAIN_USAGE, async () => {
    const parsed = parseArgs(
      args,
      ['weights', 'config', 'out', 'head-fusion', 'discard-ratio', 'top', 'alpha', 'batch-size'],
      [],
      { overrides: false },
    );
    if (parsed.positional.length === 0) throw new UsageError('no images given');
    const options: ExplainOptions = {
      outDir: stringFlag(parsed, 'out') ?? '.',
      headFusion: choiceFlag(parsed, 'head-fusion', HEAD_FUSIONS) ?? ROLLOUT_DEFAULTS.headFusion,
      discardRatio:
        numberFlag(parsed, 'discard-ratio', (r) => r >= 0 && r < 1, 'a number in [0, 1)') ??
        ROLLOUT_DEFAULTS.discardRatio,
      k: integerFlag(parsed, 'top') ?? 1,
      alpha: numberFlag(parsed, 'alpha', (a) => a >= 0 && a <= 1, 'a number in [0, 1]') ?? EXPLANATION_DEFAULTS.alpha,
      batchSize: integerFlag(parsed, 'batch-size') ?? 16,
    };
    const images = parsed.positional;
    const stems = outputStems(images, options.outDir);
    const weights = stringFlag(parsed, 'weights');
    const config = stringFlag(parsed, 'config');
    if (config !== undefined && weights === undefined) throw new UsageError('--config needs --weights');
    try {
      fs.mkdirSync(options.outDir, { recursive: true });
    } catch (error) {
      throw new OutputError(options.outDir, `cannot make the folder: ${(error as Error).message}`);
    }
    using classifier = await classifierOf(weights, config);
    if (options.k > classifier.classes.length) {
      throw new UsageError(
        `expected an integer in [1, ${classifier.classes.length}] for --top (the model has ` +
          `${classifier.classes.length} classes), received '${options.k}'`,
      );
    }
    const progress = createItemProgress('explain', images.length);
    let failures: DataError[];
    try {
      failures = await explainImages(classifier, images, stems, options, (line, done) => {
        if (line) progress.line(line);
        progress.advance(done);
      });
    } finally {
      progress.stop();
    }
    for (const failure of failures) console.error(`vitorch explain: ${failure.message}`);
    return failures.length > 0 ? 1 : 0;
  });
}
