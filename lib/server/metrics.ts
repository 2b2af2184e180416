// Prometheus metrics of one server (GET /metrics), in a registry of its own so that several servers in a process
// do not collide: requests by model, route and outcome, request / queue / compute / preprocessing durations, batch
// sizes, queue depth, and Triton's pair of counters (inferences = samples, executions = forward passes), each
// labelled with its model; Node's default process metrics besides. Requests to routes that name no model (health,
// server metadata) or name one the server does not know have model="".
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatcherObserver } from './batcher';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'route' | 'outcome'>;
  readonly requestDuration: Histogram<'model' | 'route'>;
  readonly queueDuration: Histogram<'model'>;
  readonly computeDuration: Histogram<'model'>;
  readonly preprocessDuration: Histogram<'model'>;
  readonly batchSize: Histogram<'model'>;
  readonly queueDepth: Gauge<'model'>;
  readonly inferences: Counter<'model'>;
  readonly executions: Counter<'model'>;

  constructor(maxBatch: number) {
    const registers = [this.registry];
    const labelNames = ['model'] as const;
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'vitorch_requests_total',
      help: 'Requests answered, by model, route and outcome',
      labelNames: ['model', 'route', 'outcome'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'vitorch_request_duration_seconds',
      help: 'Time from request to response',
      labelNames: ['model', 'route'],
      buckets: SECONDS,
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'vitorch_queue_duration_seconds',
      help: 'Time a request waited in the batch queue',
      labelNames,
      buckets: SECONDS,
      registers,
    });
    this.computeDuration = new Histogram({
      name: 'vitorch_compute_duration_seconds',
      help: 'Time of one batched forward pass',
      labelNames,
      buckets: SECONDS,
      registers,
    });
    this.preprocessDuration = new Histogram({
      name: 'vitorch_preprocess_duration_seconds',
      help: 'Time to decode and preprocess one image (/v1/classify)',
      labelNames,
      buckets: SECONDS,
      registers,
    });
    const sizes: number[] = [];
    for (let b = 1; b < maxBatch; b *= 2) sizes.push(b);
    sizes.push(maxBatch);
    this.batchSize = new Histogram({
      name: 'vitorch_batch_size',
      help: 'Samples per forward pass',
      labelNames,
      buckets: sizes,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'vitorch_queue_depth',
      help: 'Requests waiting for a batch',
      labelNames,
      registers,
    });
    this.inferences = new Counter({
      name: 'vitorch_inferences_total',
      help: 'Samples inferred (a batch of n counts n)',
      labelNames,
      registers,
    });
    this.executions = new Counter({
      name: 'vitorch_executions_total',
      help: 'Forward passes run',
      labelNames,
      registers,
    });
  }

  /** What the batcher of `model` reports, recorded here. */
  batcherObserver(model: string): BatcherObserver {
    const labels = { model };
    return {
      queueDepth: (requests) => this.queueDepth.set(labels, requests),
      queued: (seconds) => this.queueDuration.observe(labels, seconds),
      batch: (_requests, samples, seconds) => {
        this.batchSize.observe(labels, samples);
        this.computeDuration.observe(labels, seconds);
        this.inferences.inc(labels, samples);
        this.executions.inc(labels);
      },
    };
  }
}

/** The outcome label of a response: what happened, in words a dashboard can group by. */
export function outcomeOf(statusCode: number, outcome: string | undefined): string {
  if (outcome) return outcome;
  if (statusCode < 400) return 'success';
  switch (statusCode) {
    case 400:
      return 'bad_request';
    case 404:
      return 'not_found';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    case 503:
      return 'unavailable';
    default:
      return statusCode < 500 ? 'client_error' : 'server_error';
  }
}
