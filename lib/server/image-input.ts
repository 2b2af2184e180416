// Whether a served model can take images (/v1/classify and the page) or tensors only (/v2 inference). Every model a
// server loads from weights has its config's preprocessing; a Classifier handed to createServer brings its own, which
// may be missing (JavaScript callers are not held to the types) or make samples of another shape than the model
// takes (a model of 2 input channels, which no image decodes to). Such a model is still served over /v2; /v1/classify
// refuses images for it with this reason, and the page shows it instead of an upload that could only fail.
import type { Preprocessor } from '../data/preprocess';
import type { ServedModel } from './served-model';

/** The preprocessing that makes model inputs of `model` from images, or why there is none. */
export function imagePreprocessing(model: ServedModel): { preprocessor: Preprocessor } | { refusal: string } {
  const tensorsOnly = `it takes tensors only, at /v2/models/${model.name}/infer`;
  const preprocessor = model.preprocessor as Preprocessor | null | undefined;
  if (!preprocessor) return { refusal: `model '${model.name}' has no image preprocessing: ${tensorsOnly}` };
  const made = preprocessor.sampleShape;
  if (made.some((d, i) => d !== model.sampleShape[i])) {
    return {
      refusal:
        `model '${model.name}' takes inputs of shape [${model.sampleShape.join(', ')}] but its image preprocessing ` +
        `makes [${made.join(', ')}]: ${tensorsOnly}`,
    };
  }
  return { preprocessor };
}
