// The server's life: loading (live, not ready), ready after the model's warm-up forward, draining after SIGTERM or
// SIGINT (not ready, new requests 503, accepted ones still answered), closed. The signal handlers give the drain a
// grace period after which the process exits anyway, and a second signal exits at once.
import type { FastifyInstance } from 'fastify';
import { UnavailableError } from './errors';
import type { ServerMetrics } from './metrics';
import { ModelRepository } from './model-repository';
import type { Serving } from './model-repository';
import type { ResolvedServerOptions } from './options';
import type { ServedModel } from './served-model';

export type Phase = 'loading' | 'ready' | 'draining' | 'failed' | 'closed';

export class ServerLifecycle {
  phase: Phase = 'loading';
  /** The models by name, each with its batcher and statistics (model-repository.ts). */
  readonly models: ModelRepository;
  loadError: Error | null = null;
  private readonly loaded: Promise<void>;
  /** How the other listeners of this server (gRPC: grpc/listen.ts) shut down once their calls are answered. */
  private readonly listeners: (() => Promise<void>)[] = [];

  constructor(
    /** createServer's options, resolved: what the gRPC service needs of them (limits, the model config's queue). */
    readonly options: ResolvedServerOptions,
    metrics: ServerMetrics,
  ) {
    this.models = new ModelRepository(options, metrics);
    this.loaded = this.load();
    // The failure is kept in loadError and rethrown by whenReady(); it is not an unhandled rejection.
    this.loaded.catch(() => undefined);
  }

  get ready(): boolean {
    return this.phase === 'ready';
  }

  /** The default model (the first, and with a single model the only one) once it answers requests; null before. */
  get model(): ServedModel | null {
    const name = this.models.names[0];
    try {
      return name === undefined ? null : this.models.serving(name).model;
    } catch {
      return null;
    }
  }

  /** Resolves when every model has loaded and run its warm-up forward; rejects with the first load's error. */
  whenReady(): Promise<void> {
    return this.loaded;
  }

  /** Why a new request cannot be taken now (not ready), as the 503 to answer it with; null when ready. */
  refusal(): UnavailableError | null {
    switch (this.phase) {
      case 'ready':
        return null;
      case 'loading':
        return new UnavailableError('the models are still loading; retry shortly', 1);
      case 'failed':
        return new UnavailableError(this.loadError?.message ?? 'a model failed to load');
      default:
        return new UnavailableError('the server is shutting down');
    }
  }

  /** The model `name` (the default model when undefined) for a request that was accepted: while ready, and while
   *  draining for those accepted before. NotFoundError for an unknown or unloaded model. */
  serving(name?: string, version?: string): Serving {
    if (this.phase !== 'ready' && this.phase !== 'draining') {
      throw this.refusal() ?? new UnavailableError('the server is shutting down');
    }
    return this.models.serving(name ?? this.defaultModelName(), version);
  }

  /** The model /v1/classify uses when the request names none. */
  defaultModelName(): string {
    return this.models.names[0] ?? '';
  }

  private async load(): Promise<void> {
    try {
      await this.models.loadAll();
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
    this.models.flush();
  }

  /** Closes `shutdown` with the server: close() waits for it as for the queues. */
  attach(shutdown: () => Promise<void>): void {
    this.listeners.push(shutdown);
  }

  /** When fastify closes (every response sent): the queues' last requests run, then the models' memory is freed;
   *  the other listeners shut down meanwhile, once their own calls are answered. */
  async close(): Promise<void> {
    this.drain();
    await Promise.all([this.models.close(), ...this.listeners.splice(0).map((shutdown) => shutdown())]);
    this.phase = 'closed';
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
    const depth = app.vitorch.models.depth;
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
