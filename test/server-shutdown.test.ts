// Shutting down: `vitorch serve` in a child process gets SIGTERM while requests wait in its queue, answers every
// one of them (with the right logits), then exits 0; a request still arriving holds the exit until the grace period
// ends (exit 1), or until a second signal (exit 130, at once). In-process: once draining, the server is not ready
// and new requests get 503 while probes still answer. Also the command's start: usage and load errors, and the
// precision its ready line names (--dtype int8).
import * as http from 'http';
import { defaultClassifier, defaultModelImages, tensor } from '../lib';
import type { Classifier } from '../lib';
import { PARITY_TOLERANCE, relativeMaxError } from './fixtures';
import { serveUntilExit, serveUntilReady } from './serve-process';
import { inferJson, metric, metrics, request, rowCosine, seededFloats, startServer, waitFor } from './server-fixtures';

const SAMPLE = [1, 28, 28];
const SAMPLE_SIZE = 28 * 28;

/** A request whose body is never finished: it keeps the server's close() waiting, as a slow upload would. */
function unfinishedRequest(url: string): http.ClientRequest {
  const { port } = new URL(url);
  const client = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v2/models/vit/infer',
    headers: { 'content-length': 100_000 },
  });
  client.on('error', () => undefined);
  client.write('{"inputs": [');
  return client;
}

let classifier: Classifier;
beforeAll(async () => {
  classifier = await defaultClassifier();
});
afterAll(() => classifier.dispose());

test('SIGTERM: every queued request is answered with its logits, then the process exits 0', async () => {
  // The delay is long enough that the requests are still queued when the signal comes.
  const served = await serveUntilReady(['--max-batch', '8', '--max-delay-ms', '60000']);
  const inputs = [1, 2, 3, 4, 5].map((seed) => seededFloats(SAMPLE_SIZE, seed));
  const pending = inputs.map((input) =>
    request(`${served.url}/v2/models/vit/infer`, { body: inferJson(input, [1, ...SAMPLE]) }),
  );
  await waitFor(async () => metric(await metrics(served.url), 'vitorch_queue_depth') === 5, 'five queued requests');
  served.child.kill('SIGTERM');
  const answers = await Promise.all(pending);
  for (const [i, answer] of answers.entries()) {
    expect(answer.status).toBe(200);
    using x = tensor(inputs[i], [1, ...SAMPLE]);
    using y = await classifier.model.forwardAsync(x);
    expect(relativeMaxError(Float32Array.from(answer.json().outputs[0].data), y.toFloat32Array())).toBeLessThanOrEqual(
      PARITY_TOLERANCE,
    );
  }
  expect(await served.exited).toEqual({ code: 0, signal: null });
  expect(served.stderr()).toMatch(
    /SIGTERM: no longer ready; answering the 5 queued requests and those in flight, then exiting/,
  );
  expect(served.stderr()).toMatch(/every accepted request was answered: exiting/);
  // Nothing listens any more.
  await expect(request(`${served.url}/v2/health/live`)).rejects.toThrow();
});

test('--dtype int8: the ready line names the precision, the answers point as float32 does', async () => {
  const served = await serveUntilReady(['--dtype', 'int8']);
  try {
    expect(served.stderr()).toMatch(/^vitorch serve: ready: .*, 10 classes, int8 \(dynamic quantization\) on cpu$/m);
    const images = defaultModelImages().slice(0, 4);
    const input = new Float32Array(images.length * SAMPLE_SIZE);
    await Promise.all(images.map((image, i) => classifier.preprocessor.evaluate(image.file, input, i * SAMPLE_SIZE)));
    const answer = await request(`${served.url}/v2/models/vit/infer`, {
      body: inferJson(input, [images.length, ...SAMPLE]),
    });
    expect(answer.status).toBe(200);
    const logits = Float32Array.from(answer.json().outputs[0].data);
    // float32 (the classifier, PyTorch's numbers by test/default-model.test.ts) as the oracle; see INT8_MIN_COSINE
    // in test/server-v2.test.ts for the measured cosines.
    using x = tensor(input, [images.length, ...SAMPLE]);
    using y = await classifier.model.forwardAsync(x);
    const float32 = y.toFloat32Array();
    for (let row = 0; row < images.length; row++) expect(rowCosine(logits, float32, 10, row)).toBeGreaterThan(0.999);
  } finally {
    served.child.kill('SIGTERM');
  }
  expect(await served.exited).toEqual({ code: 0, signal: null });
});

test('a request that never completes: exit 1 after the grace period, or 130 at once on a second signal', async () => {
  const graceful = await serveUntilReady(['--grace-period-ms', '300']);
  const stuck = unfinishedRequest(graceful.url);
  await new Promise((resolve) => setTimeout(resolve, 100));
  graceful.child.kill('SIGINT');
  expect(await graceful.exited).toEqual({ code: 1, signal: null });
  expect(graceful.stderr()).toMatch(/the grace period of 300 ms passed before every request was answered: exiting/);
  stuck.destroy();

  const impatient = await serveUntilReady(['--grace-period-ms', '60000']);
  const stuckToo = unfinishedRequest(impatient.url);
  await new Promise((resolve) => setTimeout(resolve, 100));
  impatient.child.kill('SIGTERM');
  await waitFor(async () => /SIGTERM: no longer ready/.test(impatient.stderr()), 'the first signal to be handled');
  impatient.child.kill('SIGTERM');
  expect(await impatient.exited).toEqual({ code: 130, signal: null });
  expect(impatient.stderr()).toMatch(/SIGTERM again: exiting now/);
  stuckToo.destroy();
});

test('draining: not ready, new inference 503, liveness and metrics still answer', async () => {
  const server = await startServer({ classifier });
  try {
    server.app.vitorch.drain();
    const ready = await request(`${server.url}/v2/health/ready`);
    expect({ status: ready.status, body: ready.json() }).toEqual({ status: 400, body: { ready: false } });
    expect((await request(`${server.url}/v2/models/vit/ready`)).status).toBe(400);
    expect((await request(`${server.url}/v2/health/live`)).json()).toEqual({ live: true });
    const infer = await request(`${server.url}/v2/models/vit/infer`, {
      body: inferJson(new Float32Array(SAMPLE_SIZE), [1, ...SAMPLE]),
    });
    expect({ status: infer.status, body: infer.json() }).toEqual({
      status: 503,
      body: { error: 'the server is shutting down' },
    });
    expect((await request(`${server.url}/v1/classify`, { body: Buffer.from('x') })).status).toBe(503);
    expect((await request(`${server.url}/metrics`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test('usage and load errors: exit 2 for bad flags, 1 for a model that cannot load', async () => {
  const run = serveUntilExit;
  const usage = await run(['--max-batch', '0']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(
    /vitorch serve: expected a positive integer for --max-batch, received '0'\nusage: vitorch serve/,
  );
  expect((await run(['--config', 'x.json'])).stderr).toMatch(/--config needs --weights/);
  const unknownDtype = await run(['--dtype', 'int9']);
  expect(unknownDtype.code).toBe(2);
  expect(unknownDtype.stderr).toMatch(
    /^vitorch serve: expected one of float32, float64, float16, bfloat16, int8 for --dtype, received 'int9'\nusage: /,
  );
  // int8 is a CPU mode: refused before any loading, whether or not this machine has a GPU.
  const int8OnGpu = await run(['--device', 'cuda', '--dtype', 'int8']);
  expect(int8OnGpu.code).toBe(2);
  expect(int8OnGpu.stderr).toMatch(
    /^vitorch serve: expected the CPU for --dtype 'int8' \(int8 is a CPU mode: model\.quantize\(\) of a float32 model\), received device 'cuda'\n/,
  );
  const missing = await run(['--weights', '/nonexistent/w.pth']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/vitorch serve: cannot serve: model 'vit' failed to load: .*\/nonexistent\/w.pth/);
});
