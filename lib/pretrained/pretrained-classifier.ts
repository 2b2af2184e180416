// `--weights W` without `--config`: a Classifier of whatever loadPretrained reads in W (the article's or timm's state
// dict, a transformers folder, a vitorch model folder), with the classes and the evaluation preprocessing the
// checkpoint states (a vitorch config's; a transformers folder's preprocessor_config.json; the article's ImageNet
// defaults for a bare state dict). `vitorch predict`, `eval` and `serve` take this path when no config is given;
// with one they keep loadClassifier's strict reading of that config.
import { Classifier, preprocessorFor, resolveClassifierConfig } from '../classifier';
import type { ResolvedClassifierConfig } from '../classifier';
import { PretrainedError } from '../errors';
import { applyInferencePrecision, requireInferencePrecision } from '../inference-precision';
import type { InferencePrecision } from '../inference-precision';
import { loadPretrained } from './load-pretrained';
import type { LoadPretrainedOptions, PretrainedFamily } from './load-pretrained';

export interface PretrainedClassifierOptions extends LoadPretrainedOptions {
  /** The precision to run in, as loadClassifier's dtype. Default float32. */
  dtype?: InferencePrecision;
}

export interface PretrainedClassifier {
  classifier: Classifier;
  /** The model, classes and preprocessing read, as a config would give them (evaluation reads its preprocess). */
  config: ResolvedClassifierConfig;
  family: PretrainedFamily;
  /** What loadPretrained assumed and mapped, one line each, for the command's user. */
  notes: string[];
}

/** The classifier of the checkpoint at `pathOrDir`, loaded off the event loop; a PretrainedError for a checkpoint
 *  loadPretrained cannot read or one without a classifier (transformers' ViTModel: features, not classes). */
export async function loadPretrainedClassifier(
  pathOrDir: string,
  options: PretrainedClassifierOptions = {},
): Promise<PretrainedClassifier> {
  const { dtype: given, ...pretrainedOptions } = options;
  const dtype = given === undefined ? undefined : requireInferencePrecision(given, 'dtype');
  const loaded = await loadPretrained(pathOrDir, pretrainedOptions);
  const { model } = loaded;
  try {
    if (loaded.classes.length === 0) {
      throw new PretrainedError(
        `${pathOrDir}: a model without a classifier head (numClasses 0, such as transformers' ViTModel) gives ` +
          'features, not classes: there is nothing to classify with',
      );
    }
    // Checked as a config file is, so that a preprocessor_config.json of the wrong channel count is refused here.
    const config = resolveClassifierConfig(
      { model: model.options, classes: loaded.classes, preprocess: loaded.preprocess },
      pathOrDir,
    );
    if (dtype !== undefined) applyInferencePrecision(model, dtype);
    return {
      classifier: new Classifier(model, loaded.classes, preprocessorFor(config)),
      config,
      family: loaded.family,
      notes: loaded.notes,
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
