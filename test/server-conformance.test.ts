// Protocol conformance judged by a real Open Inference Protocol client: NVIDIA's tritonclient.http from PyPI
// (tools/oip_conformance.py) talks to a vitorch server on loopback in JSON and binary modes, with gzip, versions,
// the classification extension and the timeout parameter; liveness, readiness, server and model metadata, the
// model configuration; and the errors it must surface (unknown model 404, wrong shape or datatype 400). The logits
// it receives are compared with vitorch's own forward pass of the inputs it sent.
import { tensor } from '../lib';
import { PARITY_TOLERANCE, relativeMaxError } from './fixtures';
import { EMBEDDED_MODEL_METADATA, RunningServer, startServer } from './server-fixtures';
import { pythonClientReport } from './python';

let server: RunningServer;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the Python client's JSON report, read field by field below
let report: any;

beforeAll(async () => {
  server = await startServer({ maxBatch: 4, maxDelayMs: 1 });
  const url = new URL(server.url).host;
  report = await pythonClientReport('oip_conformance.py', ['--url', url, '--model', 'vit']);
});
afterAll(() => server.close());

test('health, readiness and metadata as tritonclient reads them', () => {
  expect(report.server_live).toBe(true);
  expect(report.server_ready).toBe(true);
  expect(report.model_ready).toBe(true);
  expect(report.model_ready_v1).toBe(true);
  expect(report.unknown_model_ready).toBe(false);
  expect(report.server_metadata).toEqual({
    name: 'vitorch',
    version: expect.any(String),
    extensions: expect.arrayContaining(['binary_tensor_data', 'classification']),
  });
  const metadata = EMBEDDED_MODEL_METADATA;
  expect(report.model_metadata).toEqual(metadata);
  expect(report.model_metadata_v1).toEqual(metadata);
  expect(report.model_config).toMatchObject({ name: 'vit', max_batch_size: 4 });
  expect(report.unknown_model_metadata).toEqual({
    status: '404',
    error: "unknown model 'no-such-model': this server serves 'vit'",
  });
});

test("inference in JSON and binary modes gives the client vitorch's logits", async () => {
  expect(report.input_shape).toEqual([3, 1, 28, 28]);
  using x = tensor(Float32Array.from(report.input), report.input_shape);
  using y = await server.app.vitorch.model!.model.forwardAsync(x);
  const expected = y.toFloat32Array();
  for (const mode of ['json', 'binary', 'binary_in_json_out', 'gzip', 'versioned', 'timeout_parameter']) {
    const result = report[mode];
    expect({ mode, error: result.error }).toEqual({ mode, error: undefined });
    expect(result.value).toMatchObject({ shape: [3, 10], datatype: 'FP32', model_name: 'vit' });
    expect({
      mode,
      error: relativeMaxError(Float32Array.from(result.value.values), expected) <= PARITY_TOLERANCE,
    }).toEqual({ mode, error: true });
  }
  expect(report.json.value.id).toBe('json-1');
  expect(report.binary.value.id).toBe('binary-1');
  expect(relativeMaxError(Float32Array.from(report.default_outputs.value), expected)).toBeLessThanOrEqual(
    PARITY_TOLERANCE,
  );

  // The classification extension: the top 3 of each row, "value:index:label".
  const classes = server.app.vitorch.model!.classes;
  for (const mode of ['classification_json', 'classification_binary']) {
    const result = report[mode].value;
    expect(result).toMatchObject({ shape: [3, 3], datatype: 'BYTES' });
    for (let s = 0; s < 3; s++) {
      const row = Array.from(expected.subarray(s * 10, s * 10 + 10));
      const top = row
        .map((v, i) => ({ v, i }))
        .sort((a, b) => b.v - a.v)
        .slice(0, 3);
      expect(result.values.slice(s * 3, s * 3 + 3).map((e: string) => e.split(':').slice(1).join(':'))).toEqual(
        top.map((t) => `${t.i}:${classes[t.i]}`),
      );
    }
  }
});

test('errors the client surfaces: unknown model 404, wrong shape and datatype 400 naming expected and received', () => {
  expect(report.unknown_model_infer).toEqual({
    status: '404',
    error: "unknown model 'no-such-model': this server serves 'vit'",
  });
  expect(report.bad_shape).toEqual({
    status: '400',
    error: "expected shape [-1, 1, 28, 28] for input 'input', received [1, 3, 28, 28]",
  });
  expect(report.bad_datatype).toEqual({
    status: '400',
    error: "expected datatype FP32 for input 'input', received the string 'FP64'",
  });
});

test("statistics and the model repository as tritonclient reads and drives them (Triton's extensions)", () => {
  // Requests of 3 samples each: 9 answered (json ... default_outputs), 2 refused by the model's checks.
  const [stats] = report.statistics.model_stats;
  expect(stats).toMatchObject({ name: 'vit', version: '1', inference_count: 27 });
  expect(stats.inference_stats.success.count).toBe(9);
  expect(stats.inference_stats.fail.count).toBe(2);
  expect(stats.inference_stats.queue.count).toBe(9);
  expect(stats.inference_stats.compute_infer.count).toBe(9);
  // Sequential requests of 3 samples with at most 4 per batch: one forward pass each.
  expect(stats.execution_count).toBe(9);
  expect(report.statistics_v1.model_stats[0].inference_count).toBe(27);
  expect(report.statistics_all.model_stats.map((m: { name: string }) => m.name)).toEqual(['vit']);
  expect(report.unknown_model_statistics.status).toBe('404');
  expect(report.repository_index).toEqual([{ name: 'vit', version: '1', state: 'READY', reason: '' }]);
  expect(report.ready_after_unload).toBe(false);
  expect(report.index_after_unload).toEqual([{ name: 'vit', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }]);
  expect(report.ready_after_load).toBe(true);
  expect(report.infer_after_load.error).toBeUndefined();
  expect(report.load_unknown.status).toBe('404');
});
