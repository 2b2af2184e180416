// The precision a model runs inference in, as every place that lets a user choose one takes it: loadClassifier's
// `dtype`, createServer's and `vitorch serve --dtype`, `vitorch eval --dtype` and `vitorch predict --dtype`. Four of
// them are dtypes of the weights (model.to); int8 is not: it is model.quantize() of a float32 CPU model, whose
// weights stay float32 and whose inputs and outputs stay float32. The choice is applied here and nowhere else, so that
// every entry point means the same by the same word.
import { MODEL_DTYPES } from './model';
import type { ModelDType, VisionTransformer } from './model';
import { tensor } from './tensor';
import type { Device, Tensor } from './tensor';
import { expected } from './validate';

/** A floating-point dtype of the weights, or 'int8': dynamic int8 quantization of a float32 CPU model. */
export type InferencePrecision = ModelDType | 'int8';

export const INFERENCE_PRECISIONS: readonly InferencePrecision[] = [...MODEL_DTYPES, 'int8'];

/** `value` as an InferencePrecision; a RangeError naming the accepted ones otherwise. */
export function requireInferencePrecision(value: unknown, argument: string): InferencePrecision {
  if (!(INFERENCE_PRECISIONS as readonly unknown[]).includes(value)) {
    throw new RangeError(expected(`one of ${INFERENCE_PRECISIONS.join(', ')}`, argument, value));
  }
  return value as InferencePrecision;
}

/** A RangeError unless `precision` can run on `device`: int8 is a CPU mode (oneDNN's int8 kernels), so a CUDA device
 *  is refused here, before any weights are loaded, rather than by quantize() after. */
export function requirePrecisionOnDevice(precision: InferencePrecision, device: string): void {
  if (precision === 'int8' && device !== 'cpu') {
    throw new RangeError(
      `expected the CPU for dtype 'int8' (int8 is a CPU mode: model.quantize() of a float32 model), ` +
        `received device '${device}'`,
    );
  }
}

/**
 * Makes `model` run inference in `precision`, on `device` when one is given: int8 quantizes it (model.quantize(), in
 * evaluation mode, the model float32 on the CPU), any other precision converts its weights (model.to), undoing an
 * earlier quantize() first since a quantized model refuses to convert. The slow-precision warnings of model.to and
 * quantize() apply (VITORCH_SLOW_BFLOAT16, VITORCH_SLOW_FLOAT16, VITORCH_SLOW_INT8). Returns the model.
 */
export function applyInferencePrecision(
  model: VisionTransformer,
  precision: InferencePrecision,
  device?: Device,
): VisionTransformer {
  if (precision === 'int8') {
    requirePrecisionOnDevice('int8', device ?? model.device);
    if (device !== undefined && model.device !== device) model.to({ device });
    if (!model.quantized) model.quantize();
    return model;
  }
  if (model.quantized) model.dequantize();
  return model.to({ device, dtype: precision });
}

/** The precision `model` runs inference in now: 'int8' once quantized (its dtype stays float32), else its dtype. */
export function inferencePrecisionOf(model: VisionTransformer): InferencePrecision {
  return model.quantized ? 'int8' : (model.dtype as ModelDType);
}

/** The precision and device in words, for logs and metadata: "int8 (dynamic quantization) on cpu". */
export function describeInferencePrecision(model: VisionTransformer): string {
  return `${model.quantized ? 'int8 (dynamic quantization)' : model.dtype} on ${model.device}`;
}

/** Preprocessed float32 pixels as the input `model` takes: its dtype (float32 for a quantized model, which
 *  quantizes its activations itself) and its device. */
export function modelInput(model: VisionTransformer, pixels: Float32Array, shape: number[]): Tensor {
  const dtype = model.dtype === 'float32' ? undefined : (model.dtype as ModelDType);
  const device = model.device === 'cpu' ? undefined : (model.device as Device);
  return tensor(pixels, shape, { dtype, device });
}
