// Dynamic batching: requests for one model wait in a bounded queue and are run together, so concurrent clients
// share one forward pass instead of taking turns. The rules (after Triton's dynamic batcher and queue policy):
//   - the queue holds at most maxQueue requests; one more is refused at once (QueueFullError, a 503 with
//     Retry-After), so overload costs a client a quick answer rather than an unbounded wait;
//   - while the model is idle, the first request waits at most maxDelayMs for others to join, or until maxBatch
//     samples are queued; while the model is busy, requests accumulate and the next batch starts as soon as it is
//     free, with up to maxBatch samples, oldest first;
//   - a request whose deadline passes while queued is dropped before compute (DeadlineError), and one whose
//     AbortSignal fires (its client disconnected) leaves the queue (CancelledError);
//   - each request is answered with its own rows of the batch's output.
// A request of several samples (an input of shape [n, C, H, W]) is never split across batches. The batcher does not
// look inside inputs: the runner gets a batch's inputs in queue order and joins them itself (the server hands its
// tensors to the compute thread, which joins them there, so a batch costs the event loop no copying).
import { CancelledError, DeadlineError, QueueFullError, UnavailableError } from './errors';

/** Runs one batch: the queued requests' inputs, oldest first, `samples` samples in all; answers their outputs laid
 *  end to end in the same order, the same number of values for every sample. */
export type BatchRunner<Input = Float32Array> = (inputs: Input[], samples: number) => Promise<Float32Array>;

/** The time and timers the batcher uses: the real ones unless a test hands it its own. */
export interface BatcherClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const REAL_CLOCK: BatcherClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export interface BatcherOptions<Input = Float32Array> {
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  run: BatchRunner<Input>;
  observer?: BatcherObserver;
  /** Default: performance.now() and the global timers. */
  clock?: BatcherClock;
}

/** What the batcher reports as it works (metrics.ts counts it). */
export interface BatcherObserver {
  queueDepth?(requests: number): void;
  /** Seconds a request spent queued, once a batch takes it. */
  queued?(seconds: number): void;
  /** A batch ran: its requests, samples and compute seconds. */
  batch?(requests: number, samples: number, seconds: number): void;
}

export interface BatchResult {
  /** The request's rows of the output. */
  output: Float32Array;
  /** Samples in the batch it ran in (for the logs). */
  batchSamples: number;
  queueSeconds: number;
  computeSeconds: number;
}

interface Entry<Input> {
  input: Input;
  samples: number;
  enqueuedAt: number;
  timeoutMs: number;
  resolve(result: BatchResult): void;
  reject(error: Error): void;
  deadlineTimer?: unknown;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Batcher<Input = Float32Array> {
  private readonly queue: Entry<Input>[] = [];
  private queuedSamples = 0;
  private running: Promise<void> | null = null;
  private delayTimer: unknown = null;
  private closed = false;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];

  private readonly clock: BatcherClock;

  constructor(private readonly options: BatcherOptions<Input>) {
    this.clock = options.clock ?? REAL_CLOCK;
  }

  get depth(): number {
    return this.queue.length;
  }
  /** True when the next submit would be refused with QueueFullError. */
  get full(): boolean {
    return this.queue.length >= this.options.maxQueue;
  }
  /** The error a submit gets when the queue is full. */
  queueFullError(): QueueFullError {
    return new QueueFullError(this.options.maxQueue);
  }
  get busy(): boolean {
    return this.running !== null;
  }

  /**
   * Queues `input`, which holds `samples` samples, and resolves with their outputs. Rejects
   * with QueueFullError when the queue is full, DeadlineError when `timeoutMs` passes before a batch takes the
   * request, CancelledError when `signal` aborts first, UnavailableError after close().
   */
  submit(input: Input, samples: number, timeoutMs: number, signal?: AbortSignal): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new UnavailableError('the server is shutting down'));
    if (this.full) return Promise.reject(this.queueFullError());
    if (signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise<BatchResult>((resolve, reject) => {
      const entry: Entry<Input> = { input, samples, enqueuedAt: this.clock.now(), timeoutMs, resolve, reject, signal };
      entry.deadlineTimer = this.clock.setTimeout(() => this.remove(entry, new DeadlineError(timeoutMs)), timeoutMs);
      if (signal) {
        entry.onAbort = () => this.remove(entry, new CancelledError());
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.queue.push(entry);
      this.queuedSamples += samples;
      this.options.observer?.queueDepth?.(this.queue.length);
      this.schedule();
    });
  }

  /** From now on batches start without waiting for maxDelayMs: the server is draining, nobody new will join. */
  flush(): void {
    this.flushing = true;
    this.schedule();
  }

  /** Refuses new requests; resolves once every queued request has been run (or dropped) and the last batch is done. */
  close(): Promise<void> {
    this.closed = true;
    if (this.delayTimer !== null) {
      this.clock.clearTimeout(this.delayTimer);
      this.delayTimer = null;
    }
    if (!this.running && this.queue.length > 0) this.startBatch();
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queuedSamples >= this.options.maxBatch || this.closed || this.flushing || this.options.maxDelayMs === 0) {
      this.startBatch();
      return;
    }
    if (this.delayTimer !== null) return;
    const waited = this.clock.now() - this.queue[0].enqueuedAt;
    this.delayTimer = this.clock.setTimeout(
      () => {
        this.delayTimer = null;
        if (!this.running && this.queue.length > 0) this.startBatch();
      },
      Math.max(0, this.options.maxDelayMs - waited),
    );
  }

  /** Takes requests oldest first while they fit in maxBatch samples (the first always fits: routes refuse larger). */
  private startBatch(): void {
    if (this.delayTimer !== null) {
      this.clock.clearTimeout(this.delayTimer);
      this.delayTimer = null;
    }
    const taken: Entry<Input>[] = [];
    let samples = 0;
    while (this.queue.length > 0 && (taken.length === 0 || samples + this.queue[0].samples <= this.options.maxBatch)) {
      const entry = this.queue.shift()!;
      this.detach(entry);
      taken.push(entry);
      samples += entry.samples;
    }
    this.queuedSamples -= samples;
    this.options.observer?.queueDepth?.(this.queue.length);
    this.running = this.runBatch(taken, samples);
  }

  private async runBatch(entries: Entry<Input>[], samples: number): Promise<void> {
    const started = this.clock.now();
    const queueSeconds = entries.map((e) => (started - e.enqueuedAt) / 1000);
    for (const seconds of queueSeconds) this.options.observer?.queued?.(seconds);
    let output: Float32Array = new Float32Array(0);
    let failure: { error: Error } | undefined;
    try {
      output = await this.options.run(
        entries.map((e) => e.input),
        samples,
      );
    } catch (error) {
      failure = { error: error as Error };
    }
    const computeSeconds = (this.clock.now() - started) / 1000;
    // The model is free. Requests that waited while it was busy go in first, so the compute threads do not wait
    // while this batch's answers are built and sent.
    this.running = null;
    if (this.queue.length > 0) this.startBatch();
    if (failure) {
      for (const entry of entries) entry.reject(failure.error);
    } else {
      this.options.observer?.batch?.(entries.length, samples, computeSeconds);
      const perSample = output.length / samples;
      let row = 0;
      entries.forEach((entry, i) => {
        entry.resolve({
          output: output.slice(row * perSample, (row + entry.samples) * perSample),
          batchSamples: samples,
          queueSeconds: queueSeconds[i],
          computeSeconds,
        });
        row += entry.samples;
      });
    }
    if (!this.running) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private remove(entry: Entry<Input>, error: Error): void {
    const index = this.queue.indexOf(entry);
    if (index === -1) return;
    this.queue.splice(index, 1);
    this.queuedSamples -= entry.samples;
    this.detach(entry);
    this.options.observer?.queueDepth?.(this.queue.length);
    entry.reject(error);
  }

  private detach(entry: Entry<Input>): void {
    if (entry.deadlineTimer !== undefined) this.clock.clearTimeout(entry.deadlineTimer);
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort);
  }
}
