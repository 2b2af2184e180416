// The batcher alone (no HTTP): grouping, maxBatch, the delay, a batch starting as soon as the model is free, each
// request answered with its own rows, the bounded queue, deadlines and cancellation. The runner stands in for a
// model with a known function (y = 2x), and can be held busy by a gate. Time is a fake clock the tests move on
// themselves: nothing sleeps, and a delay or deadline fires exactly when the test says.
import { Batcher, BatchRunner } from '../lib';
import type { BatcherClock } from '../lib/server/batcher';
import { CancelledError, DeadlineError, QueueFullError } from '../lib/server/errors';

/** Lets promise callbacks that are ready run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

class FakeClock implements BatcherClock {
  private time = 0;
  private nextId = 1;
  private timers = new Map<number, { at: number; callback: () => void }>();
  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }
  clearTimeout(timer: unknown): void {
    this.timers.delete(timer as number);
  }
  /** Moves time on by `ms`, firing the timers that fall due in order, each followed by what it set off. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= until).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
      await settle();
    }
    this.time = until;
    await settle();
  }
}

interface Harness {
  batcher: Batcher;
  batches: number[];
  clock: FakeClock;
  release(): void;
  hold(): void;
}

function harness(options: { maxBatch: number; maxDelayMs: number; maxQueue?: number }): Harness {
  const batches: number[] = [];
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const run: BatchRunner = async (inputs, samples) => {
    batches.push(samples);
    await gate;
    return Float32Array.from(inputs.flatMap((input) => Array.from(input, (x) => 2 * x)));
  };
  const clock = new FakeClock();
  const batcher = new Batcher({ maxQueue: 100, ...options, run, clock });
  return {
    batcher,
    batches,
    clock,
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
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
  expect(answers.map((a) => Array.from(a.output))).toEqual([
    [2, 4],
    [6, 8, 10, 12],
    [14, 16],
    [18, 20, 22, 24, 26, 28, 30, 32],
  ]);
  expect(answers.every((a) => a.batchSamples === 8)).toBe(true);
});

test('an idle model waits maxDelayMs for company; a busy one starts the next batch as soon as it is free', async () => {
  const h = harness({ maxBatch: 4, maxDelayMs: 30 });
  const first = h.batcher.submit(sample(1, 1), 1, 10_000);
  await h.clock.advance(29);
  expect(h.batches).toEqual([]);
  await h.clock.advance(1);
  expect(h.batches).toEqual([1]);
  await first;

  h.hold();
  const running = h.batcher.submit(sample(1, 1), 1, 10_000);
  await h.clock.advance(30);
  expect(h.batches).toEqual([1, 1]);
  // Six samples queue while the model is busy: they go in batches of at most 4, oldest first, never split.
  const queued = [
    h.batcher.submit(sample(1, 1, 2, 2), 2, 10_000),
    h.batcher.submit(sample(3, 3, 4, 4, 5, 5), 3, 10_000),
    h.batcher.submit(sample(6, 6), 1, 10_000),
  ];
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
  await h.clock.advance(19);
  expect(h.batcher.depth).toBe(1);
  const dropped = expect(late).rejects.toBeInstanceOf(DeadlineError);
  await h.clock.advance(1);
  await dropped;
  expect(h.batcher.depth).toBe(0);
  h.release();
  await busy;
  await h.clock.advance(10_000);
  // Neither the dropped nor the cancelled request reached the model.
  expect(h.batches).toEqual([1]);
});

test('close() runs what is queued without waiting for the delay, then refuses', async () => {
  const h = harness({ maxBatch: 8, maxDelayMs: 60_000 });
  const queued = [h.batcher.submit(sample(1, 1), 1, 120_000), h.batcher.submit(sample(2, 2), 1, 120_000)];
  await h.batcher.close();
  expect((await Promise.all(queued)).map((a) => Array.from(a.output))).toEqual([
    [2, 2],
    [4, 4],
  ]);
  expect(h.batches).toEqual([2]);
  await expect(h.batcher.submit(sample(1, 1), 1, 1000)).rejects.toThrow('shutting down');
});
