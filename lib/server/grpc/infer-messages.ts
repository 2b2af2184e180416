// ModelInfer's messages: a ModelInferRequest read against the served model, and its ModelInferResponse built. The
// checks are the REST side's (v2-infer.ts: the input's name, datatype and shape, the outputs' names, the `timeout`
// and `classification` parameters, the rollout's `head_fusion` and `discard_ratio`), so both protocols refuse the
// same requests in the same words; what differs is where the data travels: raw_input_contents (little-endian
// bytes, as tritonclient and perf_analyzer send it) or contents.fp32_contents, and the answer always as
// raw_output_contents, one entry per output in the request's order (FP32 logits or rollout, or the classification
// extension's BYTES elements, each a uint32 little-endian length and its UTF-8 text).
import { bytesElementsToBuffer, float32Data, float32ToBytes } from '../binary-tensor';
import type { Float32Bytes } from '../binary-tensor';
import { BadRequestError } from '../errors';
import type { ServedModel } from '../served-model';
import type { RolloutSettings } from '../rollout-output';
import {
  checkInputTensor,
  checkOutputName,
  INPUT_NAME,
  outputTensor,
  requestedOutputs,
  timeoutParameter,
} from '../v2-infer';
import type { RequestedOutput } from '../v2-infer';
import { parameterValue } from './messages';
import type { InferTensorContents, ModelInferRequest, Parameters } from './messages';

export interface GrpcInferRequest {
  id: string;
  input: Float32Array | Float32Bytes;
  samples: number;
  /** The request's own deadline for the queue (its `timeout` parameter), if it set one. */
  timeoutMs?: number;
  /** The outputs asked for (`logits` alone when none is named). */
  outputs: RequestedOutput[];
  /** The rollout's settings when `attention_rollout` is among them. */
  rollout?: RolloutSettings;
}

const parameter = (parameters: Parameters, key: string): unknown =>
  parameters[key] === undefined ? undefined : parameterValue(parameters[key]);

export function readModelInferRequest(
  request: ModelInferRequest,
  model: ServedModel,
  maxBatch: number,
): GrpcInferRequest {
  const timeout = parameter(request.parameters, 'timeout');
  const timeoutMs = timeout === undefined ? undefined : timeoutParameter(timeout);
  if (request.inputs.length !== 1) {
    throw new BadRequestError(`expected one input tensor ('${INPUT_NAME}'), received ${request.inputs.length}`);
  }
  const tensor = request.inputs[0];
  const { shape, samples, count } = checkInputTensor(tensor, model, maxBatch);
  const region = parameter(tensor.parameters, 'shared_memory_region');
  if (region !== undefined) {
    throw new BadRequestError(
      `input '${INPUT_NAME}' names shared memory region ${JSON.stringify(String(region).slice(0, 64))}: vitorch ` +
        'takes tensor data in the request only (raw_input_contents or contents.fp32_contents)',
    );
  }
  const shapeText = `[${shape.join(', ')}]`;
  const raw = request.raw_input_contents;
  let input: Float32Array | Float32Bytes;
  if (raw.length > 0) {
    if (raw.length !== 1) {
      throw new BadRequestError(
        `expected one raw_input_contents entry (for input '${INPUT_NAME}'), received ${raw.length}`,
      );
    }
    if (hasContents(tensor.contents)) {
      throw new BadRequestError(`input '${INPUT_NAME}' has both contents and raw_input_contents: expected one of them`);
    }
    if (raw[0].length !== count * 4) {
      throw new BadRequestError(
        `expected ${count * 4} bytes of raw_input_contents (FP32 ${shapeText}) for input '${INPUT_NAME}', ` +
          `received ${raw[0].length}`,
      );
    }
    input = float32Data(raw[0]);
  } else {
    const values = tensor.contents?.fp32_contents ?? [];
    if (values.length === 0) {
      throw new BadRequestError(
        `input '${INPUT_NAME}' has no data: expected raw_input_contents or contents.fp32_contents` +
          (hasContents(tensor.contents) ? ' (FP32 values go in fp32_contents)' : ''),
      );
    }
    if (values.length !== count) {
      throw new BadRequestError(
        `expected ${count} values in contents.fp32_contents of input '${INPUT_NAME}' (shape ${shapeText}), ` +
          `received ${values.length}`,
      );
    }
    input = Float32Array.from(values);
  }

  const { outputs, rollout } = requestedOutputs(
    request.outputs.map((output) => ({
      name: checkOutputName(output.name),
      parameter: (key: string) => parameter(output.parameters, key),
    })),
    model,
  );
  return { id: request.id ?? '', input, samples, timeoutMs, outputs, rollout };
}

/** Whether any typed contents field holds values. */
function hasContents(contents: InferTensorContents | undefined): boolean {
  return contents !== undefined && Object.values(contents).some((values) => Array.isArray(values) && values.length > 0);
}

/** The answer: each requested output in the request's order, its data in raw_output_contents. */
export function buildModelInferResponse(
  request: GrpcInferRequest,
  model: ServedModel,
  logits: Float32Array,
  rollout?: Float32Array,
): Record<string, unknown> {
  const outputs: Record<string, unknown>[] = [];
  const raw: Buffer[] = [];
  for (const requested of request.outputs) {
    const { output, values, elements } = outputTensor(requested, request.samples, model, logits, rollout);
    outputs.push({ name: requested.name, ...output });
    raw.push(elements ? bytesElementsToBuffer(elements) : float32ToBytes(values!));
  }
  return { model_name: model.name, model_version: model.version, id: request.id, outputs, raw_output_contents: raw };
}
