// Triton's own load generator, perf_analyzer (tools/install-perf-analyzer.sh; CI installs it), against a real server
// on loopback: it reads the model's metadata and configuration, makes its requests from them (random FP32 data of
// the model's shape), and measures. A server a Triton user points perf_analyzer at must stand this. Its report is
// held against the server's own count of inferences. Not installed is a failure naming the installer, not a skip.
import { runPerfAnalyzer, perfAnalyzerPath } from '../bench/perf-analyzer';
import { parsePerfAnalyzerCsv, parseRequestCounts } from '../bench/perf-analyzer-report';
import { listenGrpc } from '../lib/server';
import { metric, metrics, request, RunningServer, startServer } from './server-fixtures';

let server: RunningServer;
let host: string;

beforeAll(async () => {
  // Throws "perf_analyzer 2.50.0 is not installed in DIR: run bash tools/install-perf-analyzer.sh" where it is missing.
  perfAnalyzerPath();
  server = await startServer();
  host = new URL(server.url).host;
});
afterAll(() => server?.close());

// Short windows, and lenient: windows agreeing with the next two within 300% on throughput and median latency are
// enough here, where only completion and the counts are judged (on two cores shared with the rest of the suite a
// stricter perf_analyzer can refuse to report at all, as one run in a few did at 100% and 10 trials).
const SHORT = { measurementIntervalMs: 1000, stabilityPercent: 300, stabilizingPercentile: 50, maxTrials: 20 } as const;

test('HTTP with binary tensors at concurrency 2: a throughput, and no more inferences than the server counted', async () => {
  const before = metric(await metrics(server.url), 'vitorch_inferences_total');
  const result = await runPerfAnalyzer({ model: 'vit', url: host, protocol: 'http', concurrency: 2, ...SHORT });
  const after = await metrics(server.url);
  expect(result.concurrency).toBe(2);
  expect(result.inferencesPerSecond).toBeGreaterThan(0);
  expect(result.requestCount).toBeGreaterThan(0);
  expect(result.p50Us).toBeGreaterThan(0);
  expect(result.p99Us).toBeGreaterThanOrEqual(result.p50Us);
  // perf_analyzer reports the windows it kept; the server also answered the ones before them.
  expect(metric(after, 'vitorch_inferences_total') - before).toBeGreaterThanOrEqual(result.requestCount);
  expect(metric(after, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'bad_request' })).toBe(0);
});

test("HTTP with JSON tensors: perf_analyzer's random data, NaN literals among it, is served", async () => {
  const result = await runPerfAnalyzer({
    model: 'vit',
    url: host,
    protocol: 'http',
    inputFormat: 'json',
    outputFormat: 'json',
    concurrency: 1,
    ...SHORT,
  });
  expect(result.inferencesPerSecond).toBeGreaterThan(0);
  const text = await metrics(server.url);
  expect(metric(text, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'bad_request' })).toBe(0);
});

test("gRPC, and the server-side split it reads from Triton's statistics extension", async () => {
  const grpcPort = await listenGrpc(server.app, { port: 0 });
  const statsBefore = (await request(`${server.url}/v2/models/vit/stats`)).json().model_stats[0];
  const result = await runPerfAnalyzer({
    model: 'vit',
    url: `127.0.0.1:${grpcPort}`,
    protocol: 'grpc',
    concurrency: 2,
    ...SHORT,
  });
  expect(result.inferencesPerSecond).toBeGreaterThan(0);
  // perf_analyzer asked the server for its statistics around each window and split the latency with them.
  expect(result.server).toBeDefined();
  expect(result.server!.computeInferUs).toBeGreaterThan(0);
  const statsAfter = (await request(`${server.url}/v2/models/vit/stats`)).json().model_stats[0];
  expect(statsAfter.inference_stats.success.count - statsBefore.inference_stats.success.count).toBeGreaterThanOrEqual(
    result.requestCount,
  );
});

test("the report's CSV and console output, with and without the server-side columns", () => {
  // As perf_analyzer 2.50.0 wrote it against this server, which has no statistics extension.
  const plain = parsePerfAnalyzerCsv(
    'Concurrency,Inferences/Second,Client Send,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency\n' +
      '2,338.907,35,0,5771,6731,7328,9270\n',
  );
  expect(plain).toEqual([
    expect.objectContaining({
      concurrency: 2,
      inferencesPerSecond: 338.907,
      p50Us: 5771,
      p90Us: 6731,
      p95Us: 7328,
      p99Us: 9270,
      clientSendUs: 35,
      clientRecvUs: 0,
      server: undefined,
    }),
  ]);
  // Against a server with Triton's statistics: the server-side columns its report writer adds.
  const [withServer] = parsePerfAnalyzerCsv(
    'Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,' +
      'Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency\n' +
      '4,120.5,20,300,1500,40,2100,30,5,4000,4500,4700,5200\n',
  );
  expect(withServer.server).toEqual({
    networkAndServerUs: 300,
    queueUs: 1500,
    computeInputUs: 40,
    computeInferUs: 2100,
    computeOutputUs: 30,
  });
  expect(() => parsePerfAnalyzerCsv('Concurrency,Inferences/Second\n1,2\n')).toThrow(
    "perf_analyzer's CSV has no 'p50 latency' column; its columns: Concurrency, Inferences/Second",
  );
  const stdout =
    'Request concurrency: 1\n  Client: \n    Request count: 10\n    Throughput: 2.7 infer/sec\n' +
    'Request concurrency: 4\n  Client: \n    Request count: 2442\n';
  expect(parseRequestCounts(stdout)).toEqual(
    new Map([
      [1, 10],
      [4, 2442],
    ]),
  );
});
