// Triton's statistics extension for one model: what GET /v2/models/{name}/stats and the gRPC ModelStatistics call
// answer, and what perf_analyzer reads to split a request's latency into queueing and compute. The meanings are
// Triton's: a request counts once in `success` or `fail` with its whole time in the server; each successful request
// adds its time queued, making its input tensor (compute_input), the forward pass of the batch it ran in
// (compute_infer, the batch's whole time for each of its requests) and building its answer (compute_output);
// `inference_count` counts samples and `execution_count` forward passes, so their ratio is the mean batch size.

/** A count and the nanoseconds they took in all, as Triton's StatisticDuration. */
export interface Duration {
  count: number;
  ns: number;
}

/** One successful request's parts, in nanoseconds. */
export interface RequestTimings {
  totalNs: number;
  queueNs: number;
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
}

/** Triton's InferStatistics as JSON (the HTTP form; gRPC sends the same fields as its message). */
export interface InferStatisticsJson {
  success: Duration;
  fail: Duration;
  queue: Duration;
  compute_input: Duration;
  compute_infer: Duration;
  compute_output: Duration;
  cache_hit: Duration;
  cache_miss: Duration;
}

export interface ModelStatisticsJson {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: InferStatisticsJson;
  batch_stats: { batch_size: number; compute_input: Duration; compute_infer: Duration; compute_output: Duration }[];
}

const zero = (): Duration => ({ count: 0, ns: 0 });

function add(duration: Duration, ns: number): void {
  duration.count++;
  duration.ns += Math.max(0, Math.round(ns));
}

export class ModelStatistics {
  /** Milliseconds since the epoch of the last request answered (successfully or not); 0 before the first. */
  private lastInference = 0;
  private inferenceCount = 0;
  private executionCount = 0;
  private readonly stats = {
    success: zero(),
    fail: zero(),
    queue: zero(),
    computeInput: zero(),
    computeInfer: zero(),
    computeOutput: zero(),
  };
  /** Per batch size: the forward passes of that many samples and their time. */
  private readonly batches = new Map<number, Duration>();

  recordSuccess(timings: RequestTimings): void {
    this.lastInference = Date.now();
    add(this.stats.success, timings.totalNs);
    add(this.stats.queue, timings.queueNs);
    add(this.stats.computeInput, timings.computeInputNs);
    add(this.stats.computeInfer, timings.computeInferNs);
    add(this.stats.computeOutput, timings.computeOutputNs);
  }

  /** A request that named this model and was not answered with its outputs, whatever the reason. */
  recordFailure(totalNs: number): void {
    this.lastInference = Date.now();
    add(this.stats.fail, totalNs);
  }

  /** One forward pass of `samples` samples. */
  recordExecution(samples: number, seconds: number): void {
    this.inferenceCount += samples;
    this.executionCount++;
    let batch = this.batches.get(samples);
    if (!batch) this.batches.set(samples, (batch = zero()));
    add(batch, seconds * 1e9);
  }

  toJson(name: string, version: string): ModelStatisticsJson {
    const copy = (d: Duration): Duration => ({ count: d.count, ns: d.ns });
    const s = this.stats;
    return {
      name,
      version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: copy(s.success),
        fail: copy(s.fail),
        queue: copy(s.queue),
        compute_input: copy(s.computeInput),
        compute_infer: copy(s.computeInfer),
        compute_output: copy(s.computeOutput),
        // Triton's response cache; vitorch has none, so nothing is ever a hit or a miss.
        cache_hit: zero(),
        cache_miss: zero(),
      },
      // Inputs are made and outputs cut per request (compute_input / compute_output above), so a batch's own
      // time is its forward pass alone.
      batch_stats: [...this.batches.entries()]
        .sort(([a], [b]) => a - b)
        .map(([size, d]) => ({
          batch_size: size,
          compute_input: { count: d.count, ns: 0 },
          compute_infer: copy(d),
          compute_output: { count: d.count, ns: 0 },
        })),
    };
  }
}
