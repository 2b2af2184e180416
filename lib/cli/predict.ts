// `vitorch predict --weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E] [--top K]
//  [--json] [--batch-size N] [--dtype D] [--skip-unknown-globals] IMAGE...`
//
// Classifies image files (JPEG, PNG, WebP, whatever sharp decodes) with trained weights: each image goes through
// the config's evaluation preprocessing (size, channels, mean, std, centre crop or letterbox), the model runs off
// the event loop, and the K most probable classes (softmax of the logits) are printed per image, or as one JSON
// array of { image, top: [{ label, index, probability }] } with --json. An image that cannot be read is reported
// by name on stderr after the others are printed, and the exit code is then 1. --dtype runs the model at another
// precision (lib/inference-precision.ts: bfloat16, or int8 for dynamic quantization on the CPU); default float32.
// Without --config the weights are read as loadPretrained reads them (the article's or timm's state dict, a
// transformers folder, a vitorch model folder: lib/pretrained/pretrained-classifier.ts), its notes on stderr; the
// pretrained flags say what a bare state dict cannot.
import { Classifier, loadClassifier, readClassifierConfig } from '../classifier';
import { DataError } from '../data/errors';
import { INFERENCE_PRECISIONS } from '../inference-precision';
import type { InferencePrecision } from '../inference-precision';
import { loadPretrainedClassifier } from '../pretrained/pretrained-classifier';
import type { Prediction } from '../top-classes';
import { choiceFlag, integerFlag, ParsedArgs, parseArgs, stringFlag, UsageError } from './args';
import { PRETRAINED_FLAGS, pretrainedOptions, refusePretrainedFlagsWithConfig } from './pretrained-flags';
import { runCommand } from './run-command';

export const PREDICT_USAGE =
  'usage: vitorch predict --weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E] ' +
  '[--top K] [--json] [--batch-size N] [--dtype D] [--skip-unknown-globals] IMAGE...';

export interface ImagePrediction {
  image: string;
  top: Prediction[];
}

/** Preprocesses and classifies `images`, batchSize at a time; images that cannot be read become `failures`. */
export async function predictImages(
  classifier: Classifier,
  images: string[],
  k: number,
  batchSize: number,
): Promise<{ predictions: ImagePrediction[]; failures: DataError[] }> {
  const [c, h, w] = classifier.preprocessor.sampleShape;
  const perImage = c * h * w;
  const predictions: ImagePrediction[] = [];
  const failures: DataError[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const chunk = images.slice(start, start + batchSize);
    // sharp decodes on libuv's pool, so the chunk's images are decoded side by side.
    const loaded = await Promise.allSettled(chunk.map((image) => classifier.preprocessor.evaluate(image)));
    const good: { image: string; pixels: Float32Array }[] = [];
    loaded.forEach((result, i) => {
      if (result.status === 'fulfilled') good.push({ image: chunk[i], pixels: result.value });
      else if (result.reason instanceof DataError) failures.push(result.reason);
      else throw result.reason;
    });
    if (good.length === 0) continue;
    const batch = new Float32Array(good.length * perImage);
    good.forEach((g, i) => batch.set(g.pixels, i * perImage));
    const tops = await classifier.classifyPixels(batch, good.length, k);
    tops.forEach((top, i) => predictions.push({ image: good[i].image, top }));
  }
  return { predictions, failures };
}

export function formatPredictions(predictions: ImagePrediction[]): string {
  return (
    predictions
      .map((p) => {
        const width = Math.max(...p.top.map((t) => t.label.length));
        return [
          p.image,
          ...p.top.map(
            (t) => `  ${(t.probability * 100).toFixed(2).padStart(6)}%  ${t.label.padEnd(width)}  (${t.index})`,
          ),
        ].join('\n');
      })
      .join('\n') + '\n'
  );
}

export async function predictCommand(args: string[]): Promise<number> {
  return runCommand('predict', PREDICT_USAGE, async () => {
    // The weights fix the model and its preprocessing, so config overrides have nothing to change here.
    const parsed = parseArgs(
      args,
      ['weights', 'config', 'top', 'batch-size', 'dtype', ...PRETRAINED_FLAGS],
      ['json', 'skip-unknown-globals'],
      { overrides: false },
    );
    const weights = stringFlag(parsed, 'weights');
    if (!weights) throw new UsageError('--weights is required');
    if (parsed.positional.length === 0) throw new UsageError('no images given');
    const k = integerFlag(parsed, 'top') ?? 5;
    const batchSize = integerFlag(parsed, 'batch-size') ?? 64;
    const dtype = choiceFlag(parsed, 'dtype', INFERENCE_PRECISIONS);

    using classifier = await predictionClassifier(parsed, weights, dtype);
    const classCount = classifier.classes.length;
    if (k > classCount) {
      const source = stringFlag(parsed, 'config') ?? weights;
      throw new UsageError(
        `expected an integer in [1, ${classCount}] for --top (${source} has ${classCount} classes), received '${k}'`,
      );
    }
    const result = await predictImages(classifier, parsed.positional, k, batchSize);
    if (result.predictions.length > 0 || parsed.flags.has('json')) {
      process.stdout.write(
        parsed.flags.has('json') ? `${JSON.stringify(result.predictions)}\n` : formatPredictions(result.predictions),
      );
    }
    for (const failure of result.failures) console.error(`vitorch predict: ${failure.message}`);
    return result.failures.length > 0 ? 1 : 0;
  });
}

/** The classifier of --weights: the model --config describes, loaded strictly, or without --config what
 *  loadPretrained reads in the weights (its notes said on stderr). */
async function predictionClassifier(
  parsed: ParsedArgs,
  weights: string,
  dtype: InferencePrecision | undefined,
): Promise<Classifier> {
  const skipUnknownGlobals = parsed.flags.has('skip-unknown-globals');
  const configFile = stringFlag(parsed, 'config');
  if (configFile !== undefined) {
    refusePretrainedFlagsWithConfig(parsed);
    return loadClassifier(readClassifierConfig(configFile), weights, { skipUnknownGlobals, dtype });
  }
  const loaded = await loadPretrainedClassifier(weights, { ...pretrainedOptions(parsed), dtype });
  for (const note of loaded.notes) console.error(`vitorch predict: note: ${note}`);
  return loaded.classifier;
}
