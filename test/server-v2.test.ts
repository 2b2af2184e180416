// The Open Inference Protocol routes over real HTTP on loopback: logits equal PyTorch's (tools/classify_reference.py
// for the embedded model, the golden outputs for the fixture models), in JSON and binary form; the classification
// extension; metadata, readiness and the model configuration; and every error status with the words that name the
// problem.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createServer, defaultClassifier, defaultModelDir, defaultModelImages, loadClassifier, tensor } from '../lib';
import type { Classifier } from '../lib';
import { expectThrows } from './expect-error';
import { fixturePath, manifest, PARITY_TOLERANCE, readFloat32, relativeMaxError } from './fixtures';
import {
  EMBEDDED_MODEL_METADATA,
  inferBinary,
  inferJson,
  jsonBody,
  request,
  rowCosine,
  RunningServer,
  seededFloats,
  startServer,
} from './server-fixtures';
import { embeddedModelReference } from './python';

let server: RunningServer;
let direct: Classifier;
let work: string;
const SAMPLE = [1, 28, 28];
const SAMPLE_SIZE = 28 * 28;
// bfloat16 keeps 8 significant bits; through the embedded model's six blocks its logits stay within this fraction of
// the output scale of float32's (as in test/inference.test.ts).
const BFLOAT16_TOLERANCE = 5e-2;

// What the tests send, [samples, seed]; PyTorch's float32 logits for each (the embedded model's weights loaded
// strictly into the reference model) are the oracle.
const INPUTS = { json: [3, 1], binary: [2, 2], classification: [2, 3], gzip: [1, 4], bfloat16: [2, 9] } as const;
// Dynamic int8 keeps each logit row pointing the way float32's does: the cosine of every row with PyTorch's float32
// row must be above this (measured on the embedded model's ten shipped images on an AVX-512 VNNI CPU: 0.99996 to
// 0.999996; the logits themselves move by up to 7.5e-3 of the largest).
const INT8_MIN_COSINE = 0.999;
type InputName = keyof typeof INPUTS;
const inputOf = (name: InputName) => seededFloats(INPUTS[name][0] * SAMPLE_SIZE, INPUTS[name][1]);
let pytorch: Record<InputName, Float32Array>;

function pytorchLogits(): Record<InputName, Float32Array> {
  const names = Object.keys(INPUTS) as InputName[];
  const request = {
    inputs: names.map((name) => ({ shape: [INPUTS[name][0], ...SAMPLE], data: Array.from(inputOf(name)) })),
  };
  const { logits } = embeddedModelReference<{ logits: number[][] }>(['--logits'], JSON.stringify(request));
  return Object.fromEntries(names.map((name, i) => [name, Float32Array.from(logits[i])])) as Record<
    InputName,
    Float32Array
  >;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-serve-v2-'));
  server = await startServer({ maxBatch: 4, maxDelayMs: 0 });
  direct = await defaultClassifier();
  pytorch = pytorchLogits();
});

afterAll(async () => {
  await server.close();
  direct.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

const infer = (body: Buffer, headers: Record<string, string> = {}, model = 'vit') =>
  request(`${server.url}/v2/models/${model}/infer`, { body, headers });

test("JSON inference: PyTorch's logits, the id echoed, no Content-Type needed", async () => {
  const input = inputOf('json');
  const answer = await infer(inferJson(input, [3, ...SAMPLE], { id: 'req-42' }));
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  const body = answer.json();
  expect(body).toMatchObject({ model_name: 'vit', model_version: '1', id: 'req-42' });
  expect(body.outputs).toHaveLength(1);
  expect(body.outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [3, 10] });
  // PyTorch's float32 logits, up to the project's parity tolerance (1e-4 of the output scale).
  expect(relativeMaxError(Float32Array.from(body.outputs[0].data), pytorch.json)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  // Nested data is the same tensor.
  const nested = await infer(
    jsonBody({
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [1, ...SAMPLE],
          data: [Array.from({ length: 28 }, (_, y) => Array.from(input.subarray(y * 28, y * 28 + 28)))],
        },
      ],
    }),
  );
  expect(nested.status).toBe(200);
  expect(
    relativeMaxError(Float32Array.from(nested.json().outputs[0].data), pytorch.json.subarray(0, 10)),
  ).toBeLessThanOrEqual(PARITY_TOLERANCE);
});

test('binary tensor extension: binary input, binary output, Inference-Header-Content-Length both ways', async () => {
  const input = inputOf('binary');
  const binary = inferBinary(input, [2, ...SAMPLE], {
    outputs: [{ name: 'logits', parameters: { binary_data: true } }],
  });
  const answer = await infer(binary.body, { ...binary.headers, 'Content-Type': 'application/octet-stream' });
  expect(answer.status).toBe(200);
  const jsonLength = Number(answer.headers.get('inference-header-content-length'));
  const json = JSON.parse(answer.body.subarray(0, jsonLength).toString('utf8'));
  expect(json.outputs[0]).toEqual({
    name: 'logits',
    datatype: 'FP32',
    shape: [2, 10],
    parameters: { binary_data_size: 80 },
  });
  const raw = answer.body.subarray(jsonLength);
  expect(raw.length).toBe(80);
  const logits = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  expect(relativeMaxError(logits, pytorch.binary)).toBeLessThanOrEqual(PARITY_TOLERANCE);

  // binary_data_output on the request asks the same for every output.
  const all = await infer(
    inferJson(input.subarray(0, SAMPLE_SIZE), [1, ...SAMPLE], { parameters: { binary_data_output: true } }),
  );
  expect(all.status).toBe(200);
  expect(all.body.length - Number(all.headers.get('inference-header-content-length'))).toBe(40);
});

/** A binary request for `input` whose JSON part is `pad` bytes longer than the shortest, so that the tensor's bytes
 *  start at any offset in the body. */
function binaryRequest(
  input: Float32Array,
  samples: number,
  pad: number,
): { body: Buffer; headers: Record<string, string> } {
  return inferBinary(input, [samples, ...SAMPLE], { id: 'x'.repeat(pad + 1) });
}

test('binary input at every alignment in the body: the same logits as the same values sent as JSON', async () => {
  const input = seededFloats(SAMPLE_SIZE, 4);
  const expected = (await infer(inferJson(input, [1, ...SAMPLE]))).json().outputs[0].data;
  for (let pad = 0; pad < 4; pad++) {
    const { body, headers } = binaryRequest(input, 1, pad);
    const answer = await infer(body, headers);
    expect(answer.status).toBe(200);
    expect(answer.json().outputs[0].data).toEqual(expected);
  }
});

test('classification extension: the top k as BYTES "value:index:label", in order', async () => {
  const input = inputOf('classification');
  const answer = await infer(
    inferJson(input, [2, ...SAMPLE], { outputs: [{ name: 'logits', parameters: { classification: 3 } }] }),
  );
  expect(answer.status).toBe(200);
  const output = answer.json().outputs[0];
  expect(output).toMatchObject({ name: 'logits', datatype: 'BYTES', shape: [2, 3] });
  const logits = pytorch.classification;
  const scale = Math.max(...logits.map(Math.abs));
  for (let s = 0; s < 2; s++) {
    const row = Array.from(logits.subarray(s * 10, s * 10 + 10));
    const order = row
      .map((v, i) => ({ v, i }))
      .sort((a, b) => b.v - a.v)
      .slice(0, 3);
    const got = (output.data as string[]).slice(s * 3, s * 3 + 3).map((e) => e.split(':'));
    expect(got.map((g) => Number(g[1]))).toEqual(order.map((o) => o.i));
    expect(got.map((g) => g[2])).toEqual(order.map((o) => direct.classes[o.i]));
    got.forEach((g, j) => expect(Math.abs(Number(g[0]) - order[j].v)).toBeLessThanOrEqual(PARITY_TOLERANCE * scale));
  }
});

test('server and model metadata, health, readiness and configuration, also under /versions/1', async () => {
  const get = async (route: string) => {
    const answer = await request(`${server.url}${route}`);
    return { status: answer.status, body: answer.json() };
  };
  expect(await get('/v2')).toEqual({
    status: 200,
    body: {
      name: 'vitorch',
      version: expect.any(String),
      extensions: expect.arrayContaining(['binary_tensor_data', 'classification', 'model_configuration']),
    },
  });
  expect(await get('/v2/health/live')).toEqual({ status: 200, body: { live: true } });
  expect(await get('/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
  const metadata = EMBEDDED_MODEL_METADATA;
  expect(await get('/v2/models/vit')).toEqual({ status: 200, body: metadata });
  expect(await get('/v2/models/vit/versions/1')).toEqual({ status: 200, body: metadata });
  expect(await get('/v2/models/vit/ready')).toEqual({ status: 200, body: { name: 'vit', ready: true } });
  expect(await get('/v2/models/vit/versions/1/ready')).toEqual({ status: 200, body: { name: 'vit', ready: true } });
  const config = await get('/v2/models/vit/config');
  expect(config.status).toBe(200);
  expect(config.body).toMatchObject({
    name: 'vit',
    max_batch_size: 4,
    input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [1, 28, 28] }],
    output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [10] }],
  });
  // attention_rollout is offered only with attentionOutput (--attention-output): perf_analyzer asks for every
  // output a model lists, and would pay a rollout with each request.
  const rollout = await request(`${server.url}/v2/models/vit/infer`, {
    body: inferJson(new Float32Array(SAMPLE_SIZE), [1, ...SAMPLE], { outputs: [{ name: 'attention_rollout' }] }),
  });
  expect(rollout.status).toBe(400);
  expect(rollout.json().error).toBe(
    "output 'attention_rollout' is off on this server: start it with --attention-output " +
      "(createServer({ attentionOutput: true })); the model's outputs are 'logits'",
  );
  const versioned = await request(`${server.url}/v2/models/vit/versions/1/infer`, {
    body: inferJson(new Float32Array(SAMPLE_SIZE), [1, ...SAMPLE]),
  });
  expect(versioned.status).toBe(200);
});

test('errors: 404 for unknown models, versions and routes; 400 naming what was expected and received', async () => {
  const good = (extra: Record<string, unknown> = {}) => ({
    name: 'input',
    datatype: 'FP32',
    shape: [1, ...SAMPLE],
    data: new Array(SAMPLE_SIZE).fill(0),
    ...extra,
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each answer's JSON is held to its expected value as it came off the wire
  const cases: [string, Promise<{ status: number; json(): any }>, number, RegExp][] = [
    ['unknown model', infer(jsonBody({ inputs: [good()] }), {}, 'resnet'), 404, /unknown model 'resnet'.*'vit'/],
    ['unknown model metadata', request(`${server.url}/v2/models/resnet`), 404, /unknown model 'resnet'/],
    [
      'unknown version',
      request(`${server.url}/v2/models/vit/versions/7`),
      404,
      /unknown version '7'.*only version is '1'/,
    ],
    ['unknown route', request(`${server.url}/v3/anything`), 404, /no route GET \/v3\/anything/],
    [
      'wrong shape',
      infer(jsonBody({ inputs: [good({ shape: [1, 3, 28, 28] })] })),
      400,
      /expected shape \[-1, 1, 28, 28\] for input 'input', received \[1, 3, 28, 28\]/,
    ],
    [
      'wrong rank',
      infer(jsonBody({ inputs: [good({ shape: [784] })] })),
      400,
      /expected shape \[-1, 1, 28, 28\].*received \[784\]/,
    ],
    [
      'wrong datatype',
      infer(jsonBody({ inputs: [good({ datatype: 'FP64' })] })),
      400,
      /expected datatype FP32 for input 'input', received the string 'FP64'/,
    ],
    [
      'wrong element count',
      infer(jsonBody({ inputs: [good({ data: [1, 2, 3] })] })),
      400,
      /expected 784 values.*received 3/,
    ],
    ['non-numbers', infer(jsonBody({ inputs: [good({ data: ['a'] })] })), 400, /expected numbers in the data/],
    [
      'unknown input',
      infer(jsonBody({ inputs: [good({ name: 'pixels' })] })),
      400,
      /unknown input 'pixels': the model's input is 'input'/,
    ],
    [
      'unknown output',
      infer(jsonBody({ inputs: [good()], outputs: [{ name: 'probs' }] })),
      400,
      /unknown output.*'logits'/,
    ],
    [
      'too big a batch',
      infer(jsonBody({ inputs: [good({ shape: [5, ...SAMPLE], data: new Array(5 * SAMPLE_SIZE).fill(0) })] })),
      400,
      /batch of 5, more than this server's max batch size 4/,
    ],
    [
      'classification out of range',
      infer(jsonBody({ inputs: [good()], outputs: [{ name: 'logits', parameters: { classification: 11 } }] })),
      400,
      /expected an integer in \[1, 10\].*classification, received number 11/,
    ],
    ['not JSON', infer(Buffer.from('{"inputs": [')), 400, /not valid JSON/],
    ['empty body', infer(Buffer.alloc(0)), 400, /empty/],
    [
      'binary size mismatch',
      infer(jsonBody({ inputs: [{ ...good(), data: undefined, parameters: { binary_data_size: 12 } }] })),
      400,
      /expected binary_data_size 3136.*received 12/,
    ],
    [
      'header length beyond the body',
      infer(jsonBody({ inputs: [good()] }), { 'Inference-Header-Content-Length': '999999999' }),
      400,
      /Inference-Header-Content-Length/,
    ],
    [
      'binary data nobody claims',
      infer(Buffer.concat([jsonBody({ inputs: [good()] }), Buffer.alloc(8)]), {
        'Inference-Header-Content-Length': String(jsonBody({ inputs: [good()] }).length),
      }),
      400,
      /8 bytes of binary data follow the JSON/,
    ],
    [
      'bad timeout',
      infer(jsonBody({ inputs: [good()], parameters: { timeout: -5 } })),
      400,
      /positive integer \(microseconds\) for parameters.timeout/,
    ],
    [
      'unsupported encoding',
      infer(jsonBody({ inputs: [good()] }), { 'Content-Encoding': 'br' }),
      415,
      /Content-Encoding gzip, deflate or identity/,
    ],
  ];
  for (const [what, answer, status, message] of cases) {
    const a = await answer;
    expect({ what, status: a.status }).toEqual({ what, status });
    const body = a.json();
    expect(Object.keys(body)).toEqual(['error']);
    expect({ what, error: body.error }).toEqual({ what, error: expect.stringMatching(message) });
  }
});

test('a gzip-compressed request (as tritonclient can send) is inflated; a body over the limit is 413', async () => {
  const zlib = await import('zlib');
  const input = inputOf('gzip');
  const answer = await infer(zlib.gzipSync(inferJson(input, [1, ...SAMPLE])), { 'Content-Encoding': 'gzip' });
  expect(answer.status).toBe(200);
  expect(relativeMaxError(Float32Array.from(answer.json().outputs[0].data), pytorch.gzip)).toBeLessThanOrEqual(
    PARITY_TOLERANCE,
  );

  const small = await startServer({ classifier: direct, bodyLimit: 4096 });
  try {
    const big = await request(`${small.url}/v2/models/vit/infer`, { body: inferJson(input, [1, ...SAMPLE]) });
    expect(big.status).toBe(413);
    expect(big.json()).toEqual({ error: "the request body is larger than this server's limit of 4096 bytes" });
    const bomb = await request(`${small.url}/v2/models/vit/infer`, {
      body: zlib.gzipSync(Buffer.alloc(1 << 20)),
      headers: { 'Content-Encoding': 'gzip' },
    });
    expect(bomb.status).toBe(413);
    expect(bomb.json().error).toMatch(/inflates to more than/);
  } finally {
    await small.close();
  }
  // The server that borrowed the classifier did not dispose it.
  expect(direct.model.disposed).toBe(false);
});

test("a trained model's weights and config: PyTorch's logits for the fixture inputs", async () => {
  const fixture = manifest.cases.find((c) => c.name === 'small-b3')!;
  const model = manifest.models[fixture.model];
  const config = path.join(work, 'small.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      model: model.config,
      classes: Array.from({ length: model.config.numClasses }, (_, i) => `class-${i}`),
    }),
  );
  const small = await startServer({ weights: fixturePath(model.checkpoint), config, modelName: 'small', maxBatch: 4 });
  try {
    const input = readFloat32(fixture.input, fixture.inputShape);
    const answer = await request(`${small.url}/v2/models/small/infer`, inferBinary(input, fixture.inputShape));
    expect(answer.status).toBe(200);
    const output = answer.json().outputs[0];
    expect(output.shape).toEqual(fixture.outputShape);
    expect(
      relativeMaxError(Float32Array.from(output.data), readFloat32(fixture.output, fixture.outputShape)),
    ).toBeLessThanOrEqual(PARITY_TOLERANCE);
    const metadata = (await request(`${small.url}/v2/models/small`)).json();
    expect(metadata.inputs[0].shape).toEqual([-1, 3, 224, 224]);
  } finally {
    await small.close();
  }
});

test("--weights alone: the seed's ViT-B/16 (1000 classes named by index), PyTorch's logits", async () => {
  const fixture = manifest.cases.find((c) => c.name === 'vit-b16-b1')!;
  const vitB = await startServer({ weights: fixturePath(manifest.models[fixture.model].checkpoint) });
  try {
    const metadata = (await request(`${vitB.url}/v2/models/vit`)).json();
    expect(metadata.inputs[0].shape).toEqual([-1, 3, 224, 224]);
    expect(metadata.outputs[0].shape).toEqual([-1, 1000]);
    const input = readFloat32(fixture.input, fixture.inputShape);
    const answer = await request(
      `${vitB.url}/v2/models/vit/infer`,
      inferBinary(input, fixture.inputShape, { outputs: [{ name: 'logits', parameters: { classification: 1000 } }] }),
    );
    expect(answer.status).toBe(200);
    // Every class once, by index, its label its index; the values are PyTorch's logits.
    const entries = (answer.json().outputs[0].data as string[]).map((e) => e.split(':'));
    const logits = new Float32Array(1000);
    for (const [value, index, label] of entries) {
      expect(label).toBe(index);
      logits[Number(index)] = Number(value);
    }
    expect(new Set(entries.map((e) => e[1])).size).toBe(1000);
    expect(relativeMaxError(logits, readFloat32(fixture.output, fixture.outputShape))).toBeLessThanOrEqual(
      PARITY_TOLERANCE,
    );
  } finally {
    await vitB.close();
  }
});

test('--dtype bfloat16: FP32 on the wire, the bfloat16 model computing', async () => {
  const bf16 = await startServer({ dtype: 'bfloat16', maxDelayMs: 0 });
  using reference = await defaultClassifier();
  reference.model.to('bfloat16');
  try {
    const config = (await request(`${bf16.url}/v2/models/vit/config`)).json();
    expect(config.parameters.dtype).toEqual({ string_value: 'bfloat16' });
    expect((await request(`${bf16.url}/v2/models/vit`)).json().inputs[0].datatype).toBe('FP32');
    const input = inputOf('bfloat16');
    const answer = await request(`${bf16.url}/v2/models/vit/infer`, { body: inferJson(input, [2, ...SAMPLE]) });
    expect(answer.status).toBe(200);
    using x = tensor(input, [2, ...SAMPLE], { dtype: 'bfloat16' });
    using y = await reference.model.forwardAsync(x);
    const served = Float32Array.from(answer.json().outputs[0].data);
    // The same bfloat16 computation as the library's on the same batch.
    expect(relativeMaxError(served, y.toFloat32Array())).toBeLessThanOrEqual(PARITY_TOLERANCE);
    // PyTorch's float32 logits up to bfloat16's rounding, and rounded away from them (the server did not quietly
    // compute in float32).
    expect(relativeMaxError(served, pytorch.bfloat16)).toBeLessThanOrEqual(BFLOAT16_TOLERANCE);
    expect(relativeMaxError(served, pytorch.bfloat16)).toBeGreaterThan(PARITY_TOLERANCE);
    // Binary input goes straight from the body's bytes to a bfloat16 tensor: the same numbers.
    const { body, headers } = binaryRequest(input, 2, 1);
    const binary = await request(`${bf16.url}/v2/models/vit/infer`, { body, headers });
    expect(binary.status).toBe(200);
    expect(binary.json().outputs[0].data).toEqual(answer.json().outputs[0].data);
  } finally {
    await bf16.close();
  }
});

test('--dtype int8: FP32 on the wire, the quantized model computing, the precision in the metadata', async () => {
  const int8 = await startServer({ dtype: 'int8', maxDelayMs: 0, maxBatch: 16 });
  const dir = defaultModelDir();
  using reference = await loadClassifier(path.join(dir, 'config.json'), path.join(dir, 'weights.pth'), {
    dtype: 'int8',
  });
  try {
    const metadata = (await request(`${int8.url}/v2/models/vit`)).json();
    expect(metadata).toEqual({
      ...EMBEDDED_MODEL_METADATA,
      parameters: { precision: 'int8 (dynamic quantization) on cpu' },
    });
    const config = (await request(`${int8.url}/v2/models/vit/config`)).json();
    expect(config.parameters).toEqual({ dtype: { string_value: 'int8' }, device: { string_value: 'cpu' } });
    // Real images, as a client would send them preprocessed: the embedded model's shipped test images.
    const images = defaultModelImages();
    const samples = images.length;
    const input = new Float32Array(samples * SAMPLE_SIZE);
    await Promise.all(images.map((image, i) => direct.preprocessor.evaluate(image.file, input, i * SAMPLE_SIZE)));
    const referenceRequest = { inputs: [{ shape: [samples, ...SAMPLE], data: Array.from(input) }] };
    const pytorchFloat32 = Float32Array.from(
      embeddedModelReference<{ logits: number[][] }>(['--logits'], JSON.stringify(referenceRequest)).logits[0],
    );
    const answer = await request(`${int8.url}/v2/models/vit/infer`, { body: inferJson(input, [samples, ...SAMPLE]) });
    expect(answer.status).toBe(200);
    expect(answer.json().outputs[0]).toMatchObject({ datatype: 'FP32', shape: [samples, 10] });
    const served = Float32Array.from(answer.json().outputs[0].data);
    // The same int8 computation as the library's quantized model on the same batch (the request is the batch: no
    // other request shares its activations' quantization scale).
    using x = tensor(input, [samples, ...SAMPLE]);
    using y = await reference.model.forwardAsync(x);
    expect(relativeMaxError(served, y.toFloat32Array())).toBeLessThanOrEqual(PARITY_TOLERANCE);
    // PyTorch's float32 logits in direction, row by row, and rounded away from them (the server did not quietly
    // compute in float32).
    for (let row = 0; row < samples; row++) {
      expect(rowCosine(served, pytorchFloat32, 10, row)).toBeGreaterThan(INT8_MIN_COSINE);
    }
    expect(relativeMaxError(served, pytorchFloat32)).toBeGreaterThan(PARITY_TOLERANCE);
    // Binary input is quantized the same way: the same numbers.
    const { body, headers } = binaryRequest(input, samples, 0);
    const binary = await request(`${int8.url}/v2/models/vit/infer`, { body, headers });
    expect(binary.status).toBe(200);
    expect(binary.json().outputs[0].data).toEqual(answer.json().outputs[0].data);
  } finally {
    await int8.close();
  }
});

test('a precision that is not one, or int8 on a GPU: a RangeError from createServer, before any loading', () => {
  expectThrows(
    () => createServer({ logger: false, dtype: 'int9' as 'int8' }),
    RangeError,
    "expected one of float32, float64, float16, bfloat16, int8 for dtype, received the string 'int9'",
  );
  expectThrows(
    () => createServer({ logger: false, device: 'cuda', dtype: 'int8' }),
    RangeError,
    "expected the CPU for dtype 'int8' (int8 is a CPU mode: model.quantize() of a float32 model), received device 'cuda'",
  );
});
