// An Open Inference Protocol inference request read against the served model, and its response built: the one
// input `input` (FP32, [n, C, H, W], as JSON `data` or binary), the outputs `logits` (FP32 [n, classes], or with the
// classification extension the top k as BYTES "value:index:label") and `attention_rollout` (FP32 [n, gridH, gridW]:
// rollout-output.ts), each as JSON or binary, the request `id` echoed, and the request-level parameters this server
// honours (`binary_data_output`, and `timeout` in microseconds as Triton's clients send it). A request that names no
// outputs gets `logits` alone; one that names outputs gets those, in its order. Anything that does not fit is a
// BadRequestError naming what was expected and received.
import { describe } from '../validate';
import { BinaryReader, bytesElementsToBuffer, float32Data, float32ToBytes, joinBody } from './binary-tensor';
import type { Float32Bytes, SplitBody } from './binary-tensor';
import { BadRequestError } from './errors';
import { stringifyJsonAllowingNonFinite } from './json-nonfinite';
import { rolloutGrid, rolloutSettings, ROLLOUT_OUTPUT_NAME } from './rollout-output';
import type { RolloutSettings } from './rollout-output';
import type { ServedModel } from './served-model';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
/** Every output a request may name, in the order the model metadata lists them. */
export const OUTPUT_NAMES = [OUTPUT_NAME, ROLLOUT_OUTPUT_NAME] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** One output a request asked for, as both protocols read it. */
export interface RequestedOutput {
  name: OutputName;
  /** The top k of the classification extension (logits only), if asked. */
  classification?: number;
  /** Whether its data travels as binary after the JSON (REST only; gRPC always answers raw_output_contents). */
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  /** JSON data as float32 values, or binary data still in the body (ServedModel.toInput takes either). */
  input: Float32Array | Float32Bytes;
  samples: number;
  /** The caller's own deadline for the queue, if it set the `timeout` parameter. */
  timeoutMs?: number;
  outputs: RequestedOutput[];
  /** The rollout's settings when `attention_rollout` is among the outputs. */
  rollout?: RolloutSettings;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parameters(value: unknown, where: string): Json {
  if (value === undefined) return {};
  if (!isObject(value))
    throw new BadRequestError(`expected an object for ${where}.parameters, received ${describe(value)}`);
  return value;
}

function optionalBoolean(params: Json, key: string, where: string): boolean | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw new BadRequestError(`expected a boolean for ${where}.parameters.${key}, received ${describe(value)}`);
  return value;
}

/** A tensor name as the client sent it, quoted when it is a string. */
function nameText(value: unknown): string {
  return typeof value === 'string' ? `'${value.slice(0, 64)}'` : describe(value);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function parseInferRequest(body: SplitBody, model: ServedModel, maxBatch: number): InferRequest {
  const request = body.json;
  if (!isObject(request))
    throw new BadRequestError(`expected an inference request object, received ${describe(request)}`);
  if (request.id !== undefined && typeof request.id !== 'string') {
    throw new BadRequestError(`expected a string for id, received ${describe(request.id)}`);
  }
  const params = parameters(request.parameters, 'the request');
  const binaryOutput = optionalBoolean(params, 'binary_data_output', 'the request') ?? false;
  const timeoutMs = params.timeout === undefined ? undefined : timeoutParameter(params.timeout);

  const inputs = request.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw new BadRequestError(
      `expected inputs to be an array of one tensor ('${INPUT_NAME}'), received ` +
        `${Array.isArray(inputs) ? `${inputs.length} inputs` : describe(inputs)}`,
    );
  }
  const reader = new BinaryReader(body.binary);
  const { input, samples } = readInput(inputs[0], model, maxBatch, reader);
  reader.finish();

  if (request.outputs !== undefined && !Array.isArray(request.outputs))
    throw new BadRequestError(`expected an array for outputs, received ${describe(request.outputs)}`);
  const listed = ((request.outputs as unknown[] | undefined) ?? []).map((output, i) => {
    if (!isObject(output))
      throw new BadRequestError(`expected an object for outputs[${i}], received ${describe(output)}`);
    const name = checkOutputName(output.name);
    return { name, parameters: parameters(output.parameters, `output '${name}'`) };
  });
  const { outputs, rollout } = requestedOutputs(
    listed.map(({ name, parameters: p }) => ({ name, parameter: (key: string) => p[key] })),
    model,
  );
  for (const [i, output] of outputs.entries()) {
    const p = listed[i]?.parameters ?? {};
    output.binary = optionalBoolean(p, 'binary_data', `output '${output.name}'`) ?? binaryOutput;
  }
  return { id: request.id as string | undefined, input, samples, timeoutMs, outputs, rollout };
}

/** The outputs a request names (each its name, already checked, and a reader of its parameters), checked for
 *  repeats and read: the classification extension's k for `logits`, the settings of `attention_rollout`. No outputs
 *  named: `logits` alone. `binary` is left false for the REST side to set. */
export function requestedOutputs(
  listed: { name: OutputName; parameter(key: string): unknown }[],
  model: ServedModel,
): { outputs: RequestedOutput[]; rollout?: RolloutSettings } {
  if (listed.length === 0) return { outputs: [{ name: OUTPUT_NAME, binary: false }] };
  if (listed.length > OUTPUT_NAMES.length) {
    throw new BadRequestError(
      `expected at most ${OUTPUT_NAMES.length} outputs (${namesText()}), received ${listed.length}`,
    );
  }
  const outputs: RequestedOutput[] = [];
  let rollout: RolloutSettings | undefined;
  for (const { name, parameter } of listed) {
    if (outputs.some((o) => o.name === name)) throw new BadRequestError(`output '${name}' is requested twice`);
    if (name === OUTPUT_NAME) {
      outputs.push({
        name,
        binary: false,
        classification: classificationParameter(parameter('classification'), model),
      });
      continue;
    }
    if (parameter('classification') !== undefined) {
      throw new BadRequestError(
        `output '${name}' takes no classification parameter: the classification extension applies to '${OUTPUT_NAME}'`,
      );
    }
    if (!model.attentionOutput) {
      throw new BadRequestError(
        `output '${name}' is off on this server: start it with --attention-output ` +
          `(createServer({ attentionOutput: true })); the model's outputs are '${OUTPUT_NAME}'`,
      );
    }
    rollout = rolloutSettings(parameter('head_fusion'), parameter('discard_ratio'));
    outputs.push({ name, binary: false });
  }
  return { outputs, rollout };
}

function namesText(): string {
  return OUTPUT_NAMES.map((n) => `'${n}'`).join(', ');
}

/** The `timeout` request parameter (microseconds, as Triton's clients send it) as milliseconds in the queue. */
export function timeoutParameter(t: unknown): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1) {
    throw new BadRequestError(
      `expected a positive integer (microseconds) for parameters.timeout, received ${describe(t)}`,
    );
  }
  return Math.max(1, Math.ceil(t / 1000));
}

/** `name` if it is one of the model's outputs. */
export function checkOutputName(name: unknown): OutputName {
  if (!(OUTPUT_NAMES as readonly unknown[]).includes(name)) {
    throw new BadRequestError(`unknown output ${nameText(name)}: the model's outputs are ${namesText()}`);
  }
  return name as OutputName;
}

/** The output's `classification` parameter (the top k of the classification extension), if it has one. */
export function classificationParameter(k: unknown, model: ServedModel): number | undefined {
  if (k === undefined) return undefined;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > model.numClasses) {
    throw new BadRequestError(
      `expected an integer in [1, ${model.numClasses}] for output '${OUTPUT_NAME}' ` +
        `parameters.classification, received ${describe(k)}`,
    );
  }
  return k;
}

function readInput(
  tensor: unknown,
  model: ServedModel,
  maxBatch: number,
  reader: BinaryReader,
): { input: Float32Array | Float32Bytes; samples: number } {
  if (!isObject(tensor)) throw new BadRequestError(`expected an input tensor object, received ${describe(tensor)}`);
  const { shape, samples, count } = checkInputTensor(tensor, model, maxBatch);
  const p = parameters(tensor.parameters, `input '${INPUT_NAME}'`);
  if (p.binary_data_size !== undefined) {
    const size = p.binary_data_size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      throw new BadRequestError(
        `expected a byte count for input '${INPUT_NAME}' parameters.binary_data_size, received ${describe(size)}`,
      );
    }
    if (tensor.data !== undefined) {
      throw new BadRequestError(`input '${INPUT_NAME}' has both data and binary_data_size: expected one of them`);
    }
    if (size !== count * 4) {
      throw new BadRequestError(
        `expected binary_data_size ${count * 4} (FP32 ${shapeText(shape)}) for input '${INPUT_NAME}', received ${size}`,
      );
    }
    return { input: float32Data(reader.take(size, INPUT_NAME)), samples };
  }
  if (tensor.data === undefined) {
    throw new BadRequestError(`input '${INPUT_NAME}' has no data: expected data or parameters.binary_data_size`);
  }
  return { input: flattenNumbers(tensor.data, count, shape), samples };
}

/** An input tensor's name, datatype and shape checked against the model (whatever carries its data): its shape,
 *  the samples it holds and their value count. */
export function checkInputTensor(
  tensor: { name?: unknown; datatype?: unknown; shape?: unknown },
  model: ServedModel,
  maxBatch: number,
): { shape: number[]; samples: number; count: number } {
  if (tensor.name !== INPUT_NAME) {
    throw new BadRequestError(`unknown input ${nameText(tensor.name)}: the model's input is '${INPUT_NAME}'`);
  }
  if (tensor.datatype !== 'FP32') {
    throw new BadRequestError(
      `expected datatype FP32 for input '${INPUT_NAME}', received ${describe(tensor.datatype)}`,
    );
  }
  const expectedShape = `[-1, ${model.sampleShape.join(', ')}]`;
  const shape = tensor.shape;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new BadRequestError(`expected shape ${expectedShape} for input '${INPUT_NAME}', received ${describe(shape)}`);
  }
  if (shape.length !== 4 || shape.slice(1).some((d, i) => d !== model.sampleShape[i]) || shape[0] < 1) {
    throw new BadRequestError(
      `expected shape ${expectedShape} for input '${INPUT_NAME}', received ${shapeText(shape)}`,
    );
  }
  const samples = shape[0];
  if (samples > maxBatch) {
    throw new BadRequestError(
      `input '${INPUT_NAME}' has a batch of ${samples}, more than this server's max batch size ${maxBatch}`,
    );
  }
  return { shape, samples, count: samples * model.sampleSize };
}

/** The JSON `data` of an FP32 tensor, flat or nested, as float32 values; its element count must equal `count`.
 *  Walked without recursion, so a deeply nested body cannot overflow the stack. */
function flattenNumbers(data: unknown, count: number, shape: number[]): Float32Array {
  if (!Array.isArray(data))
    throw new BadRequestError(`expected an array for the data of input '${INPUT_NAME}', received ${describe(data)}`);
  const out = new Float32Array(count);
  let n = 0;
  const open: { array: unknown[]; index: number }[] = [{ array: data, index: 0 }];
  while (open.length > 0) {
    const top = open[open.length - 1];
    if (top.index >= top.array.length) {
      open.pop();
      continue;
    }
    const value = top.array[top.index++];
    if (typeof value === 'number') {
      if (n < count) out[n] = value;
      n++;
    } else if (Array.isArray(value)) {
      if (open.length >= 64) throw new BadRequestError(`the data of input '${INPUT_NAME}' is nested more than 64 deep`);
      open.push({ array: value, index: 0 });
    } else {
      throw new BadRequestError(
        `expected numbers in the data of input '${INPUT_NAME}' (FP32), received ${describe(value)}`,
      );
    }
  }
  if (n !== count) {
    throw new BadRequestError(
      `expected ${count} values in the data of input '${INPUT_NAME}' (shape ${shapeText(shape)}), received ${n}`,
    );
  }
  return out;
}

/** The response: each requested output, in the request's order, as JSON data or as binary data after the JSON. */
export function buildInferResponse(
  request: InferRequest,
  model: ServedModel,
  logits: Float32Array,
  rollout?: Float32Array,
): { body: Buffer; contentType: string; headerLength?: number } {
  const chunks: Buffer[] = [];
  const outputs = request.outputs.map((requested) => {
    const { output, values, elements } = outputTensor(requested, request.samples, model, logits, rollout);
    const json: Json = { name: requested.name, ...output };
    if (requested.binary) {
      const chunk = elements ? bytesElementsToBuffer(elements) : float32ToBytes(values!);
      json.parameters = { binary_data_size: chunk.length };
      chunks.push(chunk);
    } else {
      json.data = elements ?? Array.from(values!);
    }
    return json;
  });
  const response: Json = { model_name: model.name, model_version: model.version };
  if (request.id !== undefined) response.id = request.id;
  response.outputs = outputs;
  // Non-finite logits as Triton writes them (NaN, Infinity, -Infinity), not as JSON.stringify's null.
  if (chunks.length === 0) {
    return { body: Buffer.from(stringifyJsonAllowingNonFinite(response), 'utf8'), contentType: 'application/json' };
  }
  const { body, headerLength } = joinBody(response, chunks);
  return { body, contentType: 'application/octet-stream', headerLength };
}

/** One requested output's datatype and shape, and its values: FP32 numbers, or the classification extension's
 *  BYTES elements. Both protocols build their answers from it. */
export function outputTensor(
  requested: RequestedOutput,
  samples: number,
  model: ServedModel,
  logits: Float32Array,
  rollout?: Float32Array,
): { output: { datatype: string; shape: number[] }; values?: Float32Array; elements?: string[] } {
  if (requested.name === ROLLOUT_OUTPUT_NAME) {
    if (!rollout) throw new Error('the batch computed no attention rollout for a request that asked for one');
    return { output: { datatype: 'FP32', shape: [samples, ...rolloutGrid(model)] }, values: rollout };
  }
  const k = requested.classification;
  if (k !== undefined) {
    return { output: { datatype: 'BYTES', shape: [samples, k] }, elements: topClasses(logits, samples, k, model) };
  }
  return { output: { datatype: 'FP32', shape: [samples, model.numClasses] }, values: logits };
}

/** The classification extension's elements: each sample's k highest logits as "value:index:label", highest first
 *  (ties by index), row after row. */
export function topClasses(logits: Float32Array, samples: number, k: number, model: ServedModel): string[] {
  const classes = model.numClasses;
  const elements: string[] = [];
  for (let s = 0; s < samples; s++) {
    const row = logits.subarray(s * classes, (s + 1) * classes);
    const order = Array.from(row.keys())
      .sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, k);
    for (const index of order) elements.push(`${row[index]}:${index}:${model.classes[index]}`);
  }
  return elements;
}
