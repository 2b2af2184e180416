// The server's life: loading (live, not ready), ready after the model's warm-up forward, draining after SIGTERM or
// SIGINT (not ready, new requests 503, accepted ones still answered), closed. The signal handlers give the drain a
// grace period after which the process exits anyway, and a second signal exits at once.
import type { FastifyInstance } from 'fastify';
import type { Tensor } from '../tensor';
import { Batcher } from './batcher';
import { UnavailableError } from './errors';
import type { ServerMetrics } from './metrics';
import type { ResolvedServerOptions } from './options';
import { ServedModel } from './served-model';

export type Phase = 'loading' | 'ready' | 'draining' | 'failed' | 'closed';

export class ServerLifecycle {
  phase: Phase = 'loading';
  model: ServedModel | null = null;
  batcher: Batcher<Tensor> | null = null;
  loadError: Error | null = null;
  private readonly loaded: Promise<void>;

  constructor(
    private readonly options: ResolvedServerOptions,
    private readonly metrics: ServerMetrics,
  ) {
    this.loaded = this.load();
    // The failure is kept in loadError and rethrown by whenReady(); it is not an unhandled rejection.
    this.loaded.catch(() => undefined);
  }

  get ready(): boolean {
    return this.phase === 'ready';
  }

  /** Resolves when the model has loaded and run its warm-up forward; rejects with the load's error. */
  whenReady(): Promise<void> {
    return this.loaded;
  }

  /** Why a new request cannot be taken now (not ready), as the 503 to answer it with; null when ready. */
  refusal(): UnavailableError | null {
    switch (this.phase) {
      case 'ready':
        return null;
      case 'loading':
        return new UnavailableError('the model is still loading; retry shortly', 1);
      case 'failed':
        return new UnavailableError(`the model failed to load: ${this.loadError?.message}`);
      default:
        return new UnavailableError('the server is shutting down');
    }
  }

  /** The model and its batcher for a request that was accepted (while ready; it is still served while draining). */
  serving(): { model: ServedModel; batcher: Batcher<Tensor> } {
    if (this.model && this.batcher && (this.phase === 'ready' || this.phase === 'draining'))
      return { model: this.model, batcher: this.batcher };
    throw this.refusal() ?? new UnavailableError('the server is shutting down');
  }

  private async load(): Promise<void> {
    const o = this.options;
    try {
      const model = await ServedModel.load(o.modelName, {
        weights: o.weights,
        config: o.config,
        classifier: o.classifier,
        device: o.device,
        dtype: o.dtype,
      });
      if (this.phase !== 'loading') {
        model.dispose();
        return;
      }
      this.model = model;
      await model.warmUp();
      this.batcher = new Batcher({
        maxBatch: o.maxBatch,
        maxDelayMs: o.maxDelayMs,
        maxQueue: o.maxQueue,
        run: (inputs) => model.forward(inputs),
        observer: this.metrics.batcherObserver(),
      });
      if (this.phase === 'loading') this.phase = 'ready';
    } catch (error) {
      this.loadError = error as Error;
      if (this.phase === 'loading') this.phase = 'failed';
      throw error;
    }
  }

  /** Not ready any more: new requests get 503, those already accepted are still served (fastify's close() then
   *  waits for their responses). */
  drain(): void {
    if (this.phase !== 'closed') this.phase = 'draining';
    this.batcher?.flush();
  }

  /** When fastify closes (every response sent): the queue's last requests run, then the model's memory is freed. */
  async close(): Promise<void> {
    this.drain();
    await this.batcher?.close();
    this.phase = 'closed';
    // A load still running finishes first, then disposes what it made (see load()).
    await this.loaded.catch(() => undefined);
    this.model?.dispose();
  }
}

export interface SignalOptions {
  /** How long the drain may take before the process exits anyway (exit code 1). Default 30 000 ms. */
  gracePeriodMs?: number;
  /** Called for each line worth telling the operator. */
  log?: (line: string) => void;
  /** process.exit by default. */
  exit?: (code: number) => void;
}

/** On SIGTERM or SIGINT: ready turns false, new requests get 503, accepted ones are answered, then the server
 *  closes and `exit(0)` is called; after the grace period `exit(1)`; a second signal exits at once (130). */
export function handleShutdownSignals(app: FastifyInstance, options: SignalOptions = {}): () => void {
  const grace = options.gracePeriodMs ?? 30_000;
  const log = options.log ?? (() => undefined);
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log(`${signal} again: exiting now`);
      exit(130);
      return;
    }
    const depth = app.vitorch.batcher?.depth ?? 0;
    log(
      `${signal}: no longer ready; answering the ${depth} queued request${depth === 1 ? '' : 's'} and those in flight, then exiting`,
    );
    const timer = setTimeout(() => {
      log(`the grace period of ${grace} ms passed before every request was answered: exiting`);
      exit(1);
    }, grace);
    timer.unref();
    app.vitorch.drain();
    app.close().then(
      () => {
        clearTimeout(timer);
        log('every accepted request was answered: exiting');
        exit(0);
      },
      (error: Error) => {
        log(`closing failed: ${error.message}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
