// The server over gRPC (lib/server/grpc/), from outside. Conformance judged by a real client, NVIDIA's
// tritonclient.grpc (tools/oip_conformance_grpc.py): probes, metadata, the model config, inference with raw tensors
// (its logits compared with vitorch's own forward), classification, the repository methods, the status codes of its
// errors, and the statistics equal to the requests it sent. Then with a Node client (@grpc/grpc-js) what the Python
// client cannot send (fp32_contents, malformed contents, a missing input), and the queue's limits as HTTP has them
// (server-batching.test.ts): a full queue RESOURCE_EXHAUSTED at once, a passed deadline (the client's own, or the
// timeout parameter) DEADLINE_EXCEEDED before compute, a cancelled call out of the queue; UNAVAILABLE when the model
// failed to load and for new calls while draining, the accepted ones answered (in process, and on SIGTERM of
// `vitorch serve`); and the command's flags.
import * as net from 'net';
import { status as Status } from '@grpc/grpc-js';
import { defaultClassifier, tensor } from '../lib';
import { createServer, listenGrpc } from '../lib/server';
import type { Classifier } from '../lib';
import { PARITY_TOLERANCE, relativeMaxError } from './fixtures';
import { float32Values, InferenceClient, rawInferRequest, startGrpcServer } from './grpc-fixtures';
import type { RunningGrpcServer } from './grpc-fixtures';
import { pythonClientReport } from './python';
import { serveUntilExit, serveUntilReady } from './serve-process';
import { metric, metrics, request, seededFloats, waitFor } from './server-fixtures';

const SAMPLE = [1, 28, 28];
const SAMPLE_SIZE = 28 * 28;
const INFER = { route: 'grpc/ModelInfer' };

let classifier: Classifier;
beforeAll(async () => {
  classifier = await defaultClassifier();
});
afterAll(() => classifier.dispose());

async function forward(input: Float32Array, samples: number): Promise<Float32Array> {
  using x = tensor(input, [samples, ...SAMPLE]);
  using y = await classifier.model.forwardAsync(x);
  return y.toFloat32Array();
}

/** Runs tools/oip_conformance_grpc.py against `port`; its JSON report. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the Python client's JSON report, read field by field
function conformanceReport(port: number): Promise<any> {
  return pythonClientReport('oip_conformance_grpc.py', ['--url', `127.0.0.1:${port}`, '--model', 'vit']);
}

/** A statistics object as protobuf's JSON mapping writes it (what tritonclient's as_json gives): 64-bit integers as
 *  strings, zeros, empty strings and empty lists left out. */
function asProtobufJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(asProtobufJson);
  if (typeof value === 'number') return value === 0 ? undefined : String(value);
  if (value === '') return undefined;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const converted = asProtobufJson(field);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

describe('judged by tritonclient.grpc', () => {
  let server: RunningGrpcServer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the Python client's JSON report, read field by field below
  let report: any;

  beforeAll(async () => {
    // With the attention output offered, so that the client sees it in the metadata and the config.
    server = await startGrpcServer({ classifier, maxBatch: 4, maxDelayMs: 1, attentionOutput: true });
    report = await conformanceReport(server.grpcPort);
  });
  afterAll(() => server.close());

  test('health, readiness, metadata and the model config as the client reads them', () => {
    expect(report).toMatchObject({
      server_live: true,
      server_ready: true,
      model_ready: true,
      model_ready_v1: true,
      unknown_model_ready: false,
    });
    expect(report.server_metadata).toEqual({
      name: 'vitorch',
      version: expect.any(String),
      extensions: expect.arrayContaining(['classification', 'model_configuration', 'model_repository', 'statistics']),
    });
    // The REST metadata without its parameters (ModelMetadataResponse has none); int64 shapes as protobuf's JSON
    // writes them.
    const metadata = {
      name: 'vit',
      versions: ['1'],
      platform: 'pytorch_libtorch',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '1', '28', '28'] }],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: ['-1', '10'] },
        { name: 'attention_rollout', datatype: 'FP32', shape: ['-1', '7', '7'] },
      ],
    };
    expect(report.model_metadata).toEqual(metadata);
    expect(report.model_metadata_v1).toEqual(metadata);
    expect(report.model_config.config).toMatchObject({
      name: 'vit',
      platform: 'pytorch_libtorch',
      max_batch_size: 4,
      input: [{ name: 'input', data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: ['1', '28', '28'] }],
      output: [
        { name: 'logits', data_type: 'TYPE_FP32', dims: ['10'] },
        { name: 'attention_rollout', data_type: 'TYPE_FP32', dims: ['7', '7'] },
      ],
      dynamic_batching: {
        max_queue_delay_microseconds: '1000',
        // timeout_action REJECT is its enum's zero value, which protobuf's JSON leaves out.
        default_queue_policy: { default_timeout_microseconds: '30000000', allow_timeout_override: true },
      },
      parameters: { dtype: { string_value: 'float32' }, device: { string_value: 'cpu' } },
    });
  });

  test("raw tensors in and out: the client gets vitorch's logits, the request id back", async () => {
    expect(report.input_shape).toEqual([3, ...SAMPLE]);
    const expected = await forward(Float32Array.from(report.input), 3);
    for (const mode of ['raw', 'versioned', 'timeout_parameter', 'client_timeout', 'gzip']) {
      const result = report[mode];
      expect({ mode, error: result.error }).toEqual({ mode, error: undefined });
      expect(result.value).toMatchObject({ shape: [3, 10], datatype: 'FP32', model_name: 'vit', model_version: '1' });
      expect({
        mode,
        close: relativeMaxError(Float32Array.from(result.value.values), expected) <= PARITY_TOLERANCE,
      }).toEqual({ mode, close: true });
    }
    expect(report.raw.value.id).toBe('grpc-1');
    expect(relativeMaxError(Float32Array.from(report.default_outputs.value), expected)).toBeLessThanOrEqual(
      PARITY_TOLERANCE,
    );

    // The classification extension: BYTES "value:index:label", the top 3 of each row.
    const result = report.classification.value;
    expect(result).toMatchObject({ shape: [3, 3], datatype: 'BYTES', id: 'top-3' });
    const classes = classifier.classes;
    for (let s = 0; s < 3; s++) {
      const top = Array.from(expected.subarray(s * 10, s * 10 + 10))
        .map((v, i) => ({ v, i }))
        .sort((a, b) => b.v - a.v)
        .slice(0, 3);
      expect(result.values.slice(s * 3, s * 3 + 3).map((e: string) => e.split(':').slice(1).join(':'))).toEqual(
        top.map((t) => `${t.i}:${classes[t.i]}`),
      );
    }
  });

  test('errors as status codes, in the words of the REST side', () => {
    const unknown = "unknown model 'no-such-model': this server serves 'vit'";
    expect(report.unknown_model_metadata).toEqual({ status: 'StatusCode.NOT_FOUND', error: unknown });
    expect(report.unknown_model_infer).toEqual({ status: 'StatusCode.NOT_FOUND', error: unknown });
    expect(report.load_unknown).toEqual({ status: 'StatusCode.NOT_FOUND', error: unknown });
    expect(report.unknown_version_config).toEqual({
      status: 'StatusCode.NOT_FOUND',
      error: "unknown version '2' of model 'vit': its only version is '1'",
    });
    expect(report.bad_shape).toEqual({
      status: 'StatusCode.INVALID_ARGUMENT',
      error: "expected shape [-1, 1, 28, 28] for input 'input', received [1, 3, 28, 28]",
    });
    expect(report.bad_datatype).toEqual({
      status: 'StatusCode.INVALID_ARGUMENT',
      error: "expected datatype FP32 for input 'input', received the string 'FP64'",
    });
    expect(report.unimplemented.status).toBe('StatusCode.UNIMPLEMENTED');
    expect(report.unimplemented.error).toMatch(/^vitorch does not implement LogSettings; its gRPC service answers /);
  });

  test("the statistics count the client's requests, and equal GET /v2/models/vit/stats", async () => {
    expect(report.statistics_before.model_stats[0].inference_stats.success).toEqual({});
    const stats = report.statistics.model_stats[0];
    // Sequential requests of 3 samples: each its own forward pass.
    expect(report.sent).toEqual({ success: 7, fail: 2, samples: 21 });
    expect(stats.inference_count).toBe(String(report.sent.samples));
    expect(stats.execution_count).toBe(String(report.sent.success));
    expect(stats.inference_stats.success.count).toBe(String(report.sent.success));
    expect(stats.inference_stats.fail.count).toBe(String(report.sent.fail));
    expect(stats.batch_stats).toEqual([expect.objectContaining({ batch_size: '3' })]);
    // Nothing was computed since (the unload and a refused request do not count), so the REST answer is the same.
    const rest = (await request(`${server.url}/v2/models/vit/stats`)).json();
    expect(stats).toEqual(asProtobufJson(rest.model_stats[0]));
    expect(report.all_statistics).toEqual(report.statistics);
  });

  test('the repository: index, unload (then not ready, inference NOT_FOUND), load again', () => {
    expect(report.repository_index).toEqual({ models: [{ name: 'vit', version: '1', state: 'READY' }] });
    expect(report.unload).toEqual({ value: null });
    expect(report.ready_after_unload).toBe(false);
    expect(report.infer_after_unload).toEqual({
      status: 'StatusCode.NOT_FOUND',
      error: "model 'vit' is not loaded (unloaded); POST /v2/repository/models/vit/load loads it",
    });
    expect(report.load).toEqual({ value: null });
    expect(report.ready_after_load).toBe(true);
  });
});

describe('what a Node client can send that tritonclient does not', () => {
  let server: RunningGrpcServer;
  let client: InferenceClient;
  const one = seededFloats(SAMPLE_SIZE, 1);

  beforeAll(async () => {
    // A body limit that one or two samples fit (3136 bytes each) and three do not.
    server = await startGrpcServer({ classifier, maxBatch: 4, maxDelayMs: 1, bodyLimit: 8192 });
    client = new InferenceClient(server.grpcPort);
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  test("FP32 values in contents.fp32_contents: the same logits as raw bytes, vitorch's forward", async () => {
    const two = seededFloats(2 * SAMPLE_SIZE, 2);
    const expected = await forward(two, 2);
    const typed = await client.call('ModelInfer', {
      model_name: 'vit',
      id: 'typed',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [2, ...SAMPLE], contents: { fp32_contents: Array.from(two) } },
      ],
    });
    expect(typed.code).toBe(Status.OK);
    expect(typed.response).toMatchObject({
      model_name: 'vit',
      model_version: '1',
      id: 'typed',
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 10] }],
    });
    expect(relativeMaxError(float32Values(typed.response.raw_output_contents[0]), expected)).toBeLessThanOrEqual(
      PARITY_TOLERANCE,
    );
    const raw = await client.call('ModelInfer', rawInferRequest(two, 2));
    expect(float32Values(raw.response.raw_output_contents[0])).toEqual(
      float32Values(typed.response.raw_output_contents[0]),
    );
  });

  test('malformed requests: INVALID_ARGUMENT naming what was expected and received', async () => {
    const input = { name: 'input', datatype: 'FP32', shape: [1, ...SAMPLE] };
    const bytes = Buffer.from(one.buffer);
    const cases: [Record<string, unknown>, string][] = [
      [
        { inputs: [input], raw_input_contents: [bytes.subarray(4)] },
        "expected 3136 bytes of raw_input_contents (FP32 [1, 1, 28, 28]) for input 'input', received 3132",
      ],
      [{ inputs: [] }, "expected one input tensor ('input'), received 0"],
      [{ inputs: [input] }, "input 'input' has no data: expected raw_input_contents or contents.fp32_contents"],
      [
        { inputs: [{ ...input, contents: { int_contents: [1, 2] } }] },
        "input 'input' has no data: expected raw_input_contents or contents.fp32_contents (FP32 values go in fp32_contents)",
      ],
      [
        { inputs: [{ ...input, contents: { fp32_contents: Array.from(one.subarray(1)) } }] },
        "expected 784 values in contents.fp32_contents of input 'input' (shape [1, 1, 28, 28]), received 783",
      ],
      [
        { inputs: [{ ...input, contents: { fp32_contents: [1] } }], raw_input_contents: [bytes] },
        "input 'input' has both contents and raw_input_contents: expected one of them",
      ],
      [
        { inputs: [input], raw_input_contents: [bytes, bytes] },
        "expected one raw_input_contents entry (for input 'input'), received 2",
      ],
      [
        { inputs: [{ ...input, name: 'image' }], raw_input_contents: [bytes] },
        "unknown input 'image': the model's input is 'input'",
      ],
      [
        { inputs: [{ ...input, shape: [5, ...SAMPLE] }], raw_input_contents: [bytes] },
        "input 'input' has a batch of 5, more than this server's max batch size 4",
      ],
      [
        {
          inputs: [{ ...input, parameters: { shared_memory_region: { string_param: 'region0' } } }],
        },
        `input 'input' names shared memory region "region0": vitorch takes tensor data in the request only ` +
          '(raw_input_contents or contents.fp32_contents)',
      ],
      [
        { inputs: [input], raw_input_contents: [bytes], outputs: [{ name: 'probabilities' }] },
        "unknown output 'probabilities': the model's outputs are 'logits', 'attention_rollout'",
      ],
      [
        {
          inputs: [input],
          raw_input_contents: [bytes],
          outputs: [{ name: 'logits', parameters: { classification: { string_param: '3' } } }],
        },
        "expected an integer in [1, 10] for output 'logits' parameters.classification, received the string '3'",
      ],
      [
        { inputs: [input], raw_input_contents: [bytes], parameters: { timeout: { bool_param: true } } },
        'expected a positive integer (microseconds) for parameters.timeout, received boolean true',
      ],
    ];
    for (const [fields, details] of cases) {
      const answer = await client.call('ModelInfer', { model_name: 'vit', ...fields });
      expect({ code: Status[answer.code], details: answer.details }).toEqual({ code: 'INVALID_ARGUMENT', details });
    }
    // An empty model_name is no model's, not the default one.
    expect(await client.call('ModelInfer', rawInferRequest(one, 1, { model_name: '' }))).toMatchObject({
      code: Status.NOT_FOUND,
      details: "unknown model '': this server serves 'vit'",
    });
    // Beyond the body limit, grpc-js refuses the message before vitorch reads it.
    const three = await client.call('ModelInfer', rawInferRequest(seededFloats(3 * SAMPLE_SIZE, 3), 3));
    expect(three.code).toBe(Status.RESOURCE_EXHAUSTED);
    const text = await metrics(server.url);
    expect(metric(text, 'vitorch_requests_total', { ...INFER, outcome: 'bad_request' })).toBe(cases.length);
    expect(metric(text, 'vitorch_requests_total', { ...INFER, model: '', outcome: 'not_found' })).toBe(1);
  });

  test('methods vitorch does not serve answer UNIMPLEMENTED, streaming ones too', async () => {
    const shared = await client.call('SystemSharedMemoryStatus', {});
    expect(shared.code).toBe(Status.UNIMPLEMENTED);
    expect(shared.details).toMatch(
      /^vitorch does not implement SystemSharedMemoryStatus; its gRPC service answers ServerLive, .* and RepositoryModelUnload$/,
    );
    const streamed = await client.stream('ModelStreamInfer');
    expect(streamed.code).toBe(Status.UNIMPLEMENTED);
    expect(streamed.details).toMatch(/^vitorch does not implement ModelStreamInfer/);
    expect(
      metric(await metrics(server.url), 'vitorch_requests_total', {
        route: 'grpc/ModelStreamInfer',
        outcome: 'unimplemented',
      }),
    ).toBe(1);
  });
});

describe("the queue's limits, as HTTP has them", () => {
  const body = (seed: number, extra: Record<string, unknown> = {}) =>
    rawInferRequest(seededFloats(SAMPLE_SIZE, seed), 1, extra);

  async function withServer(
    options: Parameters<typeof startGrpcServer>[0],
    run: (server: RunningGrpcServer, client: InferenceClient) => Promise<void>,
  ): Promise<void> {
    const server = await startGrpcServer({ classifier, ...options });
    const client = new InferenceClient(server.grpcPort);
    try {
      await run(server, client);
    } finally {
      client.close();
      await server.close();
    }
  }
  const depth = async (server: RunningGrpcServer) => metric(await metrics(server.url), 'vitorch_queue_depth');

  test('a full queue answers RESOURCE_EXHAUSTED at once (Retry-After in the trailers); the queued request is answered', () =>
    withServer({ maxBatch: 8, maxDelayMs: 1000, maxQueue: 1 }, async (server, client) => {
      const queued = client.call('ModelInfer', body(1));
      await waitFor(async () => (await depth(server)) === 1, 'one queued request');
      const refused = await client.call('ModelInfer', body(2));
      expect({ code: Status[refused.code], details: refused.details }).toEqual({
        code: 'RESOURCE_EXHAUSTED',
        details: 'the queue is full (1 requests waiting); retry later',
      });
      expect(refused.metadata?.get('retry-after')).toEqual(['1']);
      // Answered while the first still waited for its batch (the 1 s delay).
      expect(await depth(server)).toBe(1);
      expect((await queued).code).toBe(Status.OK);
      const text = await metrics(server.url);
      expect(metric(text, 'vitorch_requests_total', { ...INFER, outcome: 'queue_full' })).toBe(1);
      expect(metric(text, 'vitorch_requests_total', { ...INFER, outcome: 'success' })).toBe(1);
      expect(metric(text, 'vitorch_executions_total')).toBe(1);
    }));

  test("the client's deadline, or its timeout parameter, passing in the queue: DEADLINE_EXCEEDED, never computed", () =>
    withServer({ maxBatch: 4, maxDelayMs: 2000, timeoutMs: 60_000 }, async (server, client) => {
      const started = Date.now();
      const late = await client.call('ModelInfer', body(1), { deadline: Date.now() + 150 });
      expect(Status[late.code]).toBe('DEADLINE_EXCEEDED');
      // Well before the 2 s batch delay: the deadline, not the batch, ended it.
      expect(Date.now() - started).toBeLessThan(1500);
      await waitFor(async () => (await depth(server)) === 0, 'the request to leave the queue');

      const parameter = await client.call('ModelInfer', body(2, { parameters: { timeout: { int64_param: 50_000 } } }));
      expect({ code: Status[parameter.code], details: parameter.details }).toEqual({
        code: 'DEADLINE_EXCEEDED',
        details: "the request's deadline (50 ms) passed while it was queued; dropped before compute",
      });
      const text = await metrics(server.url);
      expect(metric(text, 'vitorch_executions_total')).toBe(0);
      expect(metric(text, 'vitorch_requests_total', { ...INFER, outcome: 'deadline' })).toBe(2);
      const stats = server.app.vitorch.models.statistics('vit').toJson('vit', '1');
      expect([stats.execution_count, stats.inference_stats.success.count, stats.inference_stats.fail.count]).toEqual([
        0, 0, 2,
      ]);
    }));

  test('a cancelled call leaves the queue and is never computed', () =>
    withServer({ maxBatch: 4, maxDelayMs: 1500 }, async (server, client) => {
      const { call, done } = client.start('ModelInfer', body(1));
      await waitFor(async () => (await depth(server)) === 1, 'the request to be queued');
      call.cancel();
      expect((await done).code).toBe(Status.CANCELLED);
      await waitFor(async () => (await depth(server)) === 0, 'the request to leave the queue');
      // The next request waits out the delay alone: the cancelled one is not in its batch.
      const next = await client.call('ModelInfer', body(2));
      expect(next.code).toBe(Status.OK);
      const text = await metrics(server.url);
      expect(metric(text, 'vitorch_executions_total')).toBe(1);
      expect(metric(text, 'vitorch_inferences_total')).toBe(1);
      expect(metric(text, 'vitorch_requests_total', { ...INFER, outcome: 'cancelled' })).toBe(1);
    }));

  test('draining: new calls UNAVAILABLE, probes and statistics still answer, the accepted call is answered', () =>
    withServer({ maxBatch: 4, maxDelayMs: 60_000 }, async (server, client) => {
      const queued = client.call('ModelInfer', body(1));
      await waitFor(async () => (await depth(server)) === 1, 'the request to be queued');
      server.app.vitorch.drain();
      expect(await client.call('ModelInfer', body(2))).toMatchObject({
        code: Status.UNAVAILABLE,
        details: 'the server is shutting down',
      });
      expect(await client.call('ModelMetadata', { name: 'vit' })).toMatchObject({ code: Status.UNAVAILABLE });
      expect((await client.call('ServerLive', {})).response).toEqual({ live: true });
      expect((await client.call('ServerReady', {})).response).toEqual({ ready: false });
      expect((await client.call('ModelReady', { name: 'vit' })).response).toEqual({ ready: false });
      expect((await client.call('ModelStatistics', { name: 'vit' })).code).toBe(Status.OK);
      // drain() let its batch start without waiting out the delay.
      const answer = await queued;
      expect(answer.code).toBe(Status.OK);
      expect(Array.from(float32Values(answer.response.raw_output_contents[0]))).toEqual(
        Array.from(await forward(seededFloats(SAMPLE_SIZE, 1), 1)),
      );
    }));
});

test('a model that cannot load: live, not ready, ModelInfer UNAVAILABLE naming the failure', async () => {
  const app = createServer({ logger: false, weights: '/nonexistent/weights.pth' });
  const client = new InferenceClient(await listenGrpc(app, { port: 0 }));
  try {
    await expect(app.vitorch.whenReady()).rejects.toThrow('/nonexistent/weights.pth');
    expect((await client.call('ServerLive', {})).response).toEqual({ live: true });
    expect((await client.call('ServerReady', {})).response).toEqual({ ready: false });
    const answer = await client.call('ModelInfer', rawInferRequest(new Float32Array(SAMPLE_SIZE), 1));
    expect(Status[answer.code]).toBe('UNAVAILABLE');
    expect(answer.details).toMatch(/model 'vit' failed to load: .*\/nonexistent\/weights.pth/);
  } finally {
    client.close();
    await app.close();
  }
});

describe('vitorch serve', () => {
  test('SIGTERM: every queued gRPC call is answered with its logits, then the process exits 0', async () => {
    const served = await serveUntilReady(['--grpc-port', '0', '--max-batch', '8', '--max-delay-ms', '60000']);
    const client = new InferenceClient(served.grpcPort);
    try {
      const inputs = [1, 2, 3, 4, 5].map((seed) => seededFloats(SAMPLE_SIZE, seed));
      const pending = inputs.map((input, i) => client.call('ModelInfer', rawInferRequest(input, 1, { id: `r${i}` })));
      await waitFor(async () => metric(await metrics(served.url), 'vitorch_queue_depth') === 5, 'five queued calls');
      served.child.kill('SIGTERM');
      const answers = await Promise.all(pending);
      for (const [i, answer] of answers.entries()) {
        expect({ code: Status[answer.code], id: answer.response?.id }).toEqual({ code: 'OK', id: `r${i}` });
        expect(
          relativeMaxError(float32Values(answer.response.raw_output_contents[0]), await forward(inputs[i], 1)),
        ).toBeLessThanOrEqual(PARITY_TOLERANCE);
      }
      expect(await served.exited).toEqual({ code: 0, signal: null });
      expect(served.stderr()).toMatch(/SIGTERM: no longer ready; answering the 5 queued requests/);
      expect(served.stderr()).toMatch(/every accepted request was answered: exiting/);
      // Nothing listens any more.
      expect((await client.call('ServerLive', {})).code).toBe(Status.UNAVAILABLE);
    } finally {
      client.close();
      served.child.kill('SIGKILL');
    }
  });

  test('flags: --no-grpc leaves it off; a gRPC port that cannot be bound exits 1 naming it; both flags exit 2', async () => {
    const run = serveUntilExit;
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const busy = await run(['--grpc-port', String(taken)]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(
        new RegExp(`^vitorch serve: cannot listen for gRPC on 127\\.0\\.0\\.1:${taken}: listen EADDRINUSE`, 'm'),
      );
    } finally {
      holder.close();
    }
    const both = await run(['--no-grpc', '--grpc-port', '0']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^vitorch serve: give --grpc-port or --no-grpc, not both\nusage: vitorch serve/);
    expect((await run(['--grpc-port', '70000'])).stderr).toMatch(
      /a port number \(0 for any free port\) for --grpc-port/,
    );

    const off = await serveUntilReady(['--no-grpc']);
    try {
      expect(off.stderr()).not.toMatch(/gRPC/);
    } finally {
      off.child.kill('SIGTERM');
    }
    expect(await off.exited).toEqual({ code: 0, signal: null });
  });
});
