// Dynamic batching and the queue's limits, seen from outside over real HTTP: concurrent requests share one forward
// pass (the batch-size metric says so), a request whose deadline passes in the queue is dropped before compute, one
// whose client disconnects leaves the queue, a full queue answers 503 with Retry-After at once, and a model that
// cannot load leaves the server live but not ready.
import * as http from 'http';
import { defaultClassifier, tensor } from '../lib';
import type { Classifier } from '../lib';
import { inferJson, metric, metrics, request, seededFloats, startServer, waitFor } from './server-fixtures';

const SAMPLE = [1, 28, 28];
const SAMPLE_SIZE = 28 * 28;
let classifier: Classifier;

beforeAll(async () => {
  classifier = await defaultClassifier();
});
afterAll(() => classifier.dispose());

const body = (seed: number, extra: Record<string, unknown> = {}) =>
  inferJson(seededFloats(SAMPLE_SIZE, seed), [1, ...SAMPLE], extra);

test('concurrent requests are grouped into one forward pass, each answered with its own logits', async () => {
  // A long delay, so the batch starts when the fourth sample arrives (maxBatch), not when the delay ends.
  const server = await startServer({ classifier, maxBatch: 4, maxDelayMs: 10_000 });
  try {
    const before = await metrics(server.url);
    const answers = await Promise.all(
      [1, 2, 3, 4].map((seed) => request(`${server.url}/v2/models/vit/infer`, { body: body(seed) })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    // Request 3's logits are its own, whichever row of the batch it had.
    using x = tensor(seededFloats(SAMPLE_SIZE, 3), [1, ...SAMPLE]);
    using alone = await classifier.model.forwardAsync(x);
    expect(answers[2].json().outputs[0].data).toEqual(Array.from(alone.toFloat32Array(), (v) => expect.closeTo(v, 4)));
    expect(new Set(answers.map((a) => JSON.stringify(a.json().outputs[0].data))).size).toBe(4);
    const after = await metrics(server.url);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      metric(after, name, labels) - metric(before, name, labels);
    // Warm-up is not counted; the four requests made one execution of batch size 4.
    expect(delta('vitorch_executions_total')).toBe(1);
    expect(delta('vitorch_inferences_total')).toBe(4);
    expect(delta('vitorch_batch_size_bucket', { le: '2' })).toBe(0);
    expect(delta('vitorch_batch_size_bucket', { le: '4' })).toBe(1);
    expect(delta('vitorch_batch_size_sum')).toBe(4);
    expect(metric(after, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'success' })).toBe(4);
    expect(metric(after, 'vitorch_queue_duration_seconds_count')).toBe(4);
    expect(metric(after, 'vitorch_compute_duration_seconds_count')).toBe(1);
    expect(metric(after, 'vitorch_queue_depth')).toBe(0);
    expect(after).toMatch(/^process_resident_memory_bytes/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds/m);
  } finally {
    await server.close();
  }
});

test('a request whose deadline (its own timeout parameter, in microseconds) passes in the queue is dropped before compute', async () => {
  const server = await startServer({ classifier, maxBatch: 4, maxDelayMs: 2000, timeoutMs: 60_000 });
  try {
    const answer = await request(`${server.url}/v2/models/vit/infer`, {
      body: body(1, { parameters: { timeout: 50_000 } }),
    });
    expect(answer.status).toBe(503);
    expect(answer.json()).toEqual({
      error: "the request's deadline (50 ms) passed while it was queued; dropped before compute",
    });
    const text = await metrics(server.url);
    expect(metric(text, 'vitorch_executions_total')).toBe(0);
    expect(metric(text, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'deadline' })).toBe(1);
  } finally {
    await server.close();
  }
  // The server default applies when the request sets none.
  const strict = await startServer({ classifier, maxBatch: 4, maxDelayMs: 2000, timeoutMs: 30 });
  try {
    const answer = await request(`${strict.url}/v2/models/vit/infer`, { body: body(1) });
    expect(answer.status).toBe(503);
    expect(answer.json().error).toMatch(/deadline \(30 ms\)/);
  } finally {
    await strict.close();
  }
});

test('a client that disconnects while queued is removed from the queue and never computed', async () => {
  const server = await startServer({ classifier, maxBatch: 4, maxDelayMs: 1500 });
  try {
    const { port } = new URL(server.url);
    const payload = body(1);
    const client = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v2/models/vit/infer',
      headers: { 'content-length': payload.length },
    });
    client.on('error', () => undefined);
    client.end(payload);
    await waitFor(
      async () => metric(await metrics(server.url), 'vitorch_queue_depth') === 1,
      'the request to be queued',
    );
    client.destroy();
    await waitFor(
      async () => metric(await metrics(server.url), 'vitorch_queue_depth') === 0,
      'the request to leave the queue',
    );
    // The next request waits out the delay alone: the cancelled one is not in its batch.
    const next = await request(`${server.url}/v2/models/vit/infer`, { body: body(2) });
    expect(next.status).toBe(200);
    const text = await metrics(server.url);
    expect(metric(text, 'vitorch_executions_total')).toBe(1);
    expect(metric(text, 'vitorch_inferences_total')).toBe(1);
    expect(metric(text, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'cancelled' })).toBe(1);
  } finally {
    await server.close();
  }
});

test('a full queue answers 503 with Retry-After at once; the queued requests are still answered', async () => {
  const server = await startServer({ classifier, maxBatch: 8, maxDelayMs: 1000, maxQueue: 2 });
  try {
    const queued = [
      request(`${server.url}/v2/models/vit/infer`, { body: body(1) }),
      request(`${server.url}/v2/models/vit/infer`, { body: body(2) }),
    ];
    await waitFor(async () => metric(await metrics(server.url), 'vitorch_queue_depth') === 2, 'two queued requests');
    const refused = await request(`${server.url}/v2/models/vit/infer`, { body: body(3) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.json()).toEqual({ error: 'the queue is full (2 requests waiting); retry later' });
    // Answered while the two were still waiting for their batch (the 1 s delay): the refusal did not queue.
    expect(metric(await metrics(server.url), 'vitorch_queue_depth')).toBe(2);
    // Nor did it wait for the body: a request whose body has not been sent yet is refused all the same.
    const early = await new Promise<{ status?: number; retryAfter?: string | string[] }>((resolve, reject) => {
      const client = http.request(
        {
          host: '127.0.0.1',
          port: new URL(server.url).port,
          method: 'POST',
          path: '/v2/models/vit/infer',
          headers: { 'content-length': 1_000_000 },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] });
          client.destroy();
        },
      );
      client.on('error', reject);
      client.write('{"inputs": [');
    });
    expect(early).toEqual({ status: 503, retryAfter: '1' });
    const [a, b] = await Promise.all(queued);
    expect([a.status, b.status]).toEqual([200, 200]);
    const text = await metrics(server.url);
    expect(metric(text, 'vitorch_requests_total', { route: '/v2/models/:name/infer', outcome: 'queue_full' })).toBe(2);
    expect(metric(text, 'vitorch_executions_total')).toBe(1);
  } finally {
    await server.close();
  }
});

test('a model that cannot load: live, not ready, inference 503 naming the failure', async () => {
  const { createServer } = await import('../lib');
  const app = createServer({ logger: false, weights: '/nonexistent/weights.pth' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    await expect(app.vitorch.whenReady()).rejects.toThrow('/nonexistent/weights.pth');
    expect((await request(`${url}/v2/health/live`)).json()).toEqual({ live: true });
    const ready = await request(`${url}/v2/health/ready`);
    expect({ status: ready.status, body: ready.json() }).toEqual({ status: 400, body: { ready: false } });
    const answer = await request(`${url}/v2/models/vit/infer`, { body: body(1) });
    expect(answer.status).toBe(503);
    expect(answer.json().error).toMatch(/model 'vit' failed to load: .*\/nonexistent\/weights.pth/);
  } finally {
    await app.close();
  }
});
