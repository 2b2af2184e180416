// The batcher alone (no HTTP): grouping, maxBatch, the delay, a batch starting as soon as the model is free, each
// request answered with its own rows, the bounded queue, deadlines and cancellation. The runner stands in for a
// model with a known function (y = 2x), and can be held busy by a gate.
import { Batcher, BatchRunner } from '../lib';
import { CancelledError, DeadlineError, QueueFullError } from '../lib/server/errors';

interface Harness { batcher: Batcher; batches: number[]; release(): void; hold(): void }

function harness(options: { maxBatch: number; maxDelayMs: number; maxQueue?: number }): Harness {
  const batches: number[] = [];
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const run: BatchRunner = async (inputs, samples) => {
    batches.push(samples);
    await gate;
    return Float32Array.from(inputs.flatMap((input) => Array.from(input, (x) => 2 * x)));
  };
  const batcher = new Batcher({ maxQueue: 100, ...options, run });
  return {
    batcher, batches,
    hold: () => { gate = new Promise((resolve) => { open = resolve; }); },
    release: () => open(),
  };
}

const sample = (...values: number[]) => Float32Array.from(values);

test('concurrent requests share one batch and each gets its own rows', async () => {
  const { batcher, batches } = harness({ maxBatch: 8, maxDelayMs: 1000 });
  const answers = await Promise.all([
    batcher.submit(sample(1, 2), 1, 10_000),
    batcher.submit(sample(3, 4, 5, 6), 2, 10_000),
    batcher.submit(sample(7, 8), 1, 10_000),
    batcher.submit(sample(9, 10, 11, 12, 13, 14, 15, 16), 4, 10_000),
  ]);
  // 8 samples reached maxBatch: the batch started at once, without waiting out the 1 s delay.
  expect(batches).toEqual([8]);
  expect(answers.map((a) => Array.from(a.output))).toEqual([[2, 4], [6, 8, 10, 12], [14, 16], [18, 20, 22, 24, 26, 28, 30, 32]]);
  expect(answers.every((a) => a.batchSamples === 8)).toBe(true);
});

test('an idle model waits maxDelayMs for company; a busy one starts the next batch as soon as it is free', async () => {
  const h = harness({ maxBatch: 4, maxDelayMs: 30 });
  const first = h.batcher.submit(sample(1, 1), 1, 10_000);
  expect(h.batches).toEqual([]);
  await first;
  expect(h.batches).toEqual([1]);

  h.hold();
  const running = h.batcher.submit(sample(1, 1), 1, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(h.batches).toEqual([1, 1]);
  // Six samples queue while the model is busy: they go in batches of at most 4, oldest first, never split.
  const queued = [h.batcher.submit(sample(1, 1, 2, 2), 2, 10_000), h.batcher.submit(sample(3, 3, 4, 4, 5, 5), 3, 10_000),
    h.batcher.submit(sample(6, 6), 1, 10_000)];
  expect(h.batcher.depth).toBe(3);
  h.release();
  await Promise.all([running, ...queued]);
  expect(h.batches).toEqual([1, 1, 2, 4]);
});

test('the next batch starts before the finished batch is answered, so the model does not wait for the replies', async () => {
  const h = harness({ maxBatch: 1, maxDelayMs: 0 });
  h.hold();
  const first = h.batcher.submit(sample(1, 1), 1, 10_000);
  const second = h.batcher.submit(sample(2, 2), 1, 10_000);
  expect(h.batches).toEqual([1]);
  // Batches started by the time the first request's answer reaches its caller.
  const startedWhenAnswered = first.then(() => h.batches.length);
  h.release();
  expect(await startedWhenAnswered).toBe(2);
  expect(Array.from((await second).output)).toEqual([4, 4]);
});

test('a full queue refuses at once; a passed deadline drops before compute; an abort leaves the queue', async () => {
  const h = harness({ maxBatch: 2, maxDelayMs: 0, maxQueue: 2 });
  h.hold();
  const busy = h.batcher.submit(sample(0, 0), 1, 10_000);
  await Promise.resolve();
  expect(h.batches).toEqual([1]);
  const late = h.batcher.submit(sample(1, 1), 1, 20);
  const controller = new AbortController();
  const leaving = h.batcher.submit(sample(2, 2), 1, 10_000, controller.signal);
  await expect(h.batcher.submit(sample(3, 3), 1, 10_000)).rejects.toBeInstanceOf(QueueFullError);
  controller.abort();
  await expect(leaving).rejects.toBeInstanceOf(CancelledError);
  await expect(late).rejects.toBeInstanceOf(DeadlineError);
  expect(h.batcher.depth).toBe(0);
  h.release();
  await busy;
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Neither the dropped nor the cancelled request reached the model.
  expect(h.batches).toEqual([1]);
});

test('close() runs what is queued without waiting for the delay, then refuses', async () => {
  const h = harness({ maxBatch: 8, maxDelayMs: 60_000 });
  const queued = [h.batcher.submit(sample(1, 1), 1, 120_000), h.batcher.submit(sample(2, 2), 1, 120_000)];
  await h.batcher.close();
  expect((await Promise.all(queued)).map((a) => Array.from(a.output))).toEqual([[2, 2], [4, 4]]);
  expect(h.batches).toEqual([2]);
  await expect(h.batcher.submit(sample(1, 1), 1, 1000)).rejects.toThrow('shutting down');
});
