// The `attention_rollout` output (lib/server/rollout-output.ts, batch-forward.ts): received by real Open Inference
// Protocol clients (tools/oip_rollout.py: tritonclient.http in JSON and binary, tritonclient.grpc), equal to the
// model's own attentionRollout of the same inputs (itself held to PyTorch's rollout in attention.test.ts); batches that
// mix requests asking for it with requests that do not; the statistics counted once per request; its bad parameters.
import { defaultClassifier, tensor } from '../lib';
import type { Classifier } from '../lib';
import { startGrpcServer } from './grpc-fixtures';
import type { RunningGrpcServer } from './grpc-fixtures';
import { pythonClientReport } from './python';
import { inferJson, jsonBody, request, seededFloats } from './server-fixtures';

const SAMPLE = [1, 28, 28];
const SAMPLE_SIZE = 28 * 28;
// The server's rollout runs in the same process on the same weights and input; only batch-dependent rounding of the
// blocks can differ, so this is a rounding bound, not a model's.
const TOLERANCE = 1e-5;

let server: RunningGrpcServer;
let classifier: Classifier;

beforeAll(async () => {
  server = await startGrpcServer({ maxBatch: 8, maxDelayMs: 20, attentionOutput: true });
  classifier = await defaultClassifier();
});
afterAll(async () => {
  await server.close();
  classifier.dispose();
});

function rolloutOf(input: Float32Array, samples: number, options = {}): Float32Array {
  using x = tensor(input, [samples, ...SAMPLE]);
  using rollout = classifier.model.attentionRollout(x, options);
  return rollout.toFloat32Array();
}

function logitsOf(input: Float32Array, samples: number): Float32Array {
  using x = tensor(input, [samples, ...SAMPLE]);
  using logits = classifier.model.forward(x);
  return logits.toFloat32Array();
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function runTool(): Promise<Record<string, never>> {
  const args = ['--http', new URL(server.url).host, '--grpc', `127.0.0.1:${server.grpcPort}`, '--model', 'vit'];
  return pythonClientReport('oip_rollout.py', args);
}

test("tritonclient over HTTP and gRPC receives the model's own rollout, beside the logits or alone", async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the Python clients' JSON report, read field by field
  const report: any = await runTool();
  const input = Float32Array.from(report.input as number[]);
  const samples = report.input_shape[0];
  expect(report.metadata_outputs).toContainEqual({ name: 'attention_rollout', datatype: 'FP32', shape: [-1, 7, 7] });
  const expected = rolloutOf(input, samples);
  const logits = logitsOf(input, samples);
  for (const key of ['http_json', 'http_binary', 'grpc_both']) {
    const seen = report[key];
    expect(seen.error).toBeUndefined();
    expect(seen.attention_rollout.shape).toEqual([samples, 7, 7]);
    expect(maxDifference(seen.attention_rollout.values, expected)).toBeLessThan(TOLERANCE);
    expect(maxDifference(seen.logits.values, logits)).toBeLessThan(1e-4);
  }
  // Outputs come back in the order they were asked for.
  expect(report.http_json.names).toEqual(['logits', 'attention_rollout']);
  expect(report.grpc_both.names).toEqual(['attention_rollout', 'logits']);
  for (const key of ['http_rollout_only', 'grpc_rollout_only']) {
    expect(report[key].names).toEqual(['attention_rollout']);
    expect(maxDifference(report[key].attention_rollout.values, expected)).toBeLessThan(TOLERANCE);
  }
  const tuned = rolloutOf(input, samples, { headFusion: 'max', discardRatio: 0.5 });
  expect(maxDifference(tuned, expected)).toBeGreaterThan(1e-3);
  for (const key of ['http_tuned', 'grpc_tuned']) {
    expect(maxDifference(report[key].attention_rollout.values, tuned)).toBeLessThan(TOLERANCE);
  }
  expect(report.http_bad_fusion.error).toBe(
    "expected one of 'mean', 'max', 'min' for output 'attention_rollout' parameters.head_fusion, " +
      "received the string 'median'",
  );
  // Seven inference requests succeeded and one failed; each counted once, whatever it asked for.
  const stats = report.statistics.model_stats[0];
  expect(stats.inference_stats.success.count).toBe(7);
  expect(stats.inference_stats.fail.count).toBe(1);
}, 60_000);

test('a batch mixing requests that ask for the rollout with requests that do not answers each as it asked', async () => {
  const url = `${server.url}/v2/models/vit/infer`;
  const inputs = [1, 2, 3, 4].map((seed) => seededFloats(SAMPLE_SIZE * (seed === 3 ? 2 : 1), seed));
  const asks = [true, false, true, false];
  const bodies = inputs.map((input, i) =>
    inferJson(input, [input.length / SAMPLE_SIZE, ...SAMPLE], {
      outputs: asks[i]
        ? [{ name: 'attention_rollout', parameters: { head_fusion: i === 2 ? 'min' : 'mean' } }, { name: 'logits' }]
        : undefined,
    }),
  );
  const before = (await request(`${server.url}/v2/models/vit/stats`)).json().model_stats[0];
  // maxDelayMs 20: the four requests, sent together, share batches.
  const answers = await Promise.all(bodies.map((body) => request(url, { body })));
  const after = (await request(`${server.url}/v2/models/vit/stats`)).json().model_stats[0];
  expect(after.inference_stats.success.count - before.inference_stats.success.count).toBe(4);
  expect(after.inference_count - before.inference_count).toBe(5);
  expect(after.execution_count - before.execution_count).toBeLessThan(4);
  answers.forEach((answer, i) => {
    expect(answer.status).toBe(200);
    const outputs = answer.json().outputs;
    const samples = inputs[i].length / SAMPLE_SIZE;
    const logits = outputs.find((o: { name: string }) => o.name === 'logits');
    expect(maxDifference(logits.data, logitsOf(inputs[i], samples))).toBeLessThan(1e-4);
    if (!asks[i]) {
      expect(outputs.map((o: { name: string }) => o.name)).toEqual(['logits']);
      return;
    }
    const rollout = outputs.find((o: { name: string }) => o.name === 'attention_rollout');
    expect(rollout.shape).toEqual([samples, 7, 7]);
    const expected = rolloutOf(inputs[i], samples, { headFusion: i === 2 ? 'min' : 'mean' });
    expect(maxDifference(rollout.data, expected)).toBeLessThan(TOLERANCE);
  });
});

test.each([
  [
    'a repeated output',
    { outputs: [{ name: 'attention_rollout' }, { name: 'attention_rollout' }] },
    "output 'attention_rollout' is requested twice",
  ],
  [
    'classification on the rollout',
    { outputs: [{ name: 'attention_rollout', parameters: { classification: 3 } }] },
    "output 'attention_rollout' takes no classification parameter: the classification extension applies to 'logits'",
  ],
  [
    'a discard ratio of 1',
    { outputs: [{ name: 'attention_rollout', parameters: { discard_ratio: 1 } }] },
    "expected a number in [0, 1) for output 'attention_rollout' parameters.discard_ratio, received number 1",
  ],
  [
    'three outputs',
    { outputs: [{ name: 'logits' }, { name: 'attention_rollout' }, { name: 'logits' }] },
    "expected at most 2 outputs ('logits', 'attention_rollout'), received 3",
  ],
])('%s is refused with 400', async (_what, extra, message) => {
  const answer = await request(`${server.url}/v2/models/vit/infer`, {
    body: inferJson(new Float32Array(SAMPLE_SIZE), [1, ...SAMPLE], extra),
  });
  expect(answer.status).toBe(400);
  expect(answer.json()).toEqual({ error: message });
});

test('a request that names no outputs gets the logits alone', async () => {
  const answer = await request(`${server.url}/v2/models/vit/infer`, {
    body: jsonBody({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, ...SAMPLE], data: [...new Float32Array(SAMPLE_SIZE)] }],
    }),
  });
  expect(answer.json().outputs.map((o: { name: string }) => o.name)).toEqual(['logits']);
});
