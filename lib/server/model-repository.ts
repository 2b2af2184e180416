// The models a server serves, by name, each with its own batcher, queue and statistics (Triton's model repository).
// Models come from createServer's single-model options (weights and config, a Classifier, or the embedded model),
// from `models` (name -> folder) or from a repository folder (one subfolder per model: model-folder.ts). Every model
// loads at startup; POST /v2/repository/models/{name}/load and /unload load, reload and unload one at run time while
// the others keep answering. A reload serves the old copy until the new one has run its warm-up forward; an unload
// answers what is already queued for the model before freeing it.
//
// All models share the one native compute thread, whose queue is first come, first served. A batcher runs one batch
// at a time, so at any moment each model has at most one forward pass queued or running there: a small model's batch
// waits behind at most one batch of each other model, however many requests those have queued. That is the
// fairness the server gives, and bench/serve-models.ts measures it.
import * as path from 'path';
import { forwardBatch } from './batch-forward';
import type { BatchInput } from './batch-forward';
import { Batcher } from './batcher';
import { NotFoundError, UnavailableError } from './errors';
import type { ServerMetrics } from './metrics';
import { isVitorchModelFolder, listRepository, ModelFolderError, readModelFolder } from './model-folder';
import { ModelStatistics } from './model-statistics';
import type { ResolvedServerOptions } from './options';
import { ServedModel } from './served-model';
import type { ModelSource } from './served-model';

/** Where a model comes from: what ServedModel.load takes, or a model folder. */
type SlotSource = ModelSource & { folder?: string };

/** Triton's model states, as the repository index reports them. */
export type ModelState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';

/** A model that answers requests: what a route needs to run one. */
export interface Serving {
  model: ServedModel;
  batcher: Batcher<BatchInput>;
  statistics: ModelStatistics;
}

export interface RepositoryIndexEntry {
  name: string;
  version?: string;
  state?: ModelState;
  reason?: string;
}

/** Models are served as version "1": one checkpoint per model, another name for another checkpoint. */
export const MODEL_VERSION = '1';
// A model name becomes a URL path segment and a metric label.
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** A model that could not be loaded at startup: its name, and the reason as `cause`. */
export class ModelLoadError extends Error {
  constructor(
    readonly model: string,
    override readonly cause: Error,
  ) {
    super(`model '${model}' failed to load: ${cause.message}`);
    this.name = 'ModelLoadError';
  }
}

class ModelSlot {
  state: ModelState = 'UNAVAILABLE';
  reason = '';
  serving: Serving | null = null;
  /** Kept across reloads and unloads, as the model's name is: a dashboard's counters never go backwards. */
  readonly statistics = new ModelStatistics();
  /** The load or unload under way; the next one waits for it. */
  pending: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    /** Where the model comes from, or null for a repository folder (read again at each load). */
    readonly source: SlotSource | null,
  ) {}
}

export class ModelRepository {
  private readonly slots = new Map<string, ModelSlot>();
  private closed = false;

  constructor(
    private readonly options: ResolvedServerOptions,
    private readonly metrics: ServerMetrics,
  ) {
    const o = options;
    if (o.modelRepository !== undefined) {
      for (const name of listRepository(o.modelRepository)) {
        if (MODEL_NAME_PATTERN.test(name)) this.slots.set(name, new ModelSlot(name, null));
      }
    }
    for (const [name, dir] of Object.entries(o.models ?? {})) {
      this.slots.set(name, new ModelSlot(name, { folder: dir }));
    }
    if (o.modelRepository === undefined && o.models === undefined) {
      this.slots.set(
        o.modelName,
        new ModelSlot(o.modelName, {
          weights: o.weights,
          config: o.config,
          pretrained: o.pretrained,
          classifier: o.classifier,
        }),
      );
    }
  }

  /** The names of the models known at startup, in order; the first is the default of /v1/classify. */
  get names(): string[] {
    return [...this.slots.keys()];
  }

  /** `name` as a metrics label: a known model's name, '' for any other, so that requests naming made-up models
   *  cannot grow the metrics without bound. */
  labelOf(name: string | undefined): string {
    return name !== undefined && this.slots.has(name) ? name : '';
  }

  /** Loads every known model; rejects with a ModelLoadError for the first that fails (each failure's reason is
   *  in the repository index). */
  async loadAll(): Promise<void> {
    const names = this.names;
    const results = await Promise.allSettled(names.map((name) => this.load(name)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed !== -1) throw new ModelLoadError(names[failed], (results[failed] as PromiseRejectedResult).reason);
  }

  /** The model `name` (and `version`, when given) if it answers requests; NotFoundError or UnavailableError if not. */
  serving(name: string, version?: string): Serving {
    const slot = this.known(name, version);
    if (slot.serving && slot.state === 'READY') return slot.serving;
    throw this.notServing(slot);
  }

  /** Whether the model answers requests now (GET /v2/models/{name}/ready); NotFoundError for an unknown name. */
  isReady(name: string, version?: string): boolean {
    const slot = this.known(name, version);
    return slot.serving !== null && slot.state === 'READY';
  }

  /** Its statistics whatever its state (an unloaded model's counts stay readable); NotFoundError if unknown. */
  statistics(name: string, version?: string): ModelStatistics {
    return this.known(name, version).statistics;
  }

  /** Every model's statistics, in name order, for GET /v2/models/stats. */
  allStatistics(): { name: string; statistics: ModelStatistics }[] {
    return [...this.slots.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((slot) => ({ name: slot.name, statistics: slot.statistics }));
  }

  /** Triton's repository index: every model the repository has (its folder read again), with its state. */
  index(readyOnly: boolean): RepositoryIndexEntry[] {
    if (this.options.modelRepository !== undefined) {
      for (const name of listRepository(this.options.modelRepository)) {
        if (MODEL_NAME_PATTERN.test(name) && !this.slots.has(name)) this.slots.set(name, new ModelSlot(name, null));
      }
    }
    return [...this.slots.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .filter((slot) => !readyOnly || slot.state === 'READY')
      .map((slot) => ({ name: slot.name, version: MODEL_VERSION, state: slot.state, reason: slot.reason }));
  }

  /** Loads (or reloads) `name`; resolves once it answers. The old copy, if any, serves until then. */
  load(name: string): Promise<void> {
    const slot = this.slotFor(name);
    const run = slot.pending.then(() => this.loadSlot(slot));
    slot.pending = run.catch(() => undefined);
    return run;
  }

  /** Stops serving `name`: new requests get 404, those already queued are answered, then its memory is freed. */
  unload(name: string): Promise<void> {
    const slot = this.known(name);
    const run = slot.pending.then(() => this.unloadSlot(slot, 'unloaded'));
    slot.pending = run.catch(() => undefined);
    return run;
  }

  /** Batches start without waiting for the delay from now on: nobody new will join (the server is draining). */
  flush(): void {
    for (const slot of this.slots.values()) slot.serving?.batcher.flush();
  }

  /** The batcher of `name` if it is serving (for the queue-full check before a body is read). */
  queueOf(name: string | undefined): Batcher<BatchInput> | undefined {
    return name === undefined ? undefined : this.slots.get(name)?.serving?.batcher;
  }

  /** Requests queued across every model. */
  get depth(): number {
    let depth = 0;
    for (const slot of this.slots.values()) depth += slot.serving?.batcher.depth ?? 0;
    return depth;
  }

  /** Every queued request answered, every model freed; loads under way finish first and free what they made. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.slots.values()].map((slot) => (slot.pending = slot.pending.then(() => this.unloadSlot(slot, 'closed')))),
    );
  }

  private async loadSlot(slot: ModelSlot): Promise<void> {
    if (this.closed) throw new UnavailableError('the server is shutting down');
    const o = this.options;
    const previous = slot.serving;
    if (!previous) slot.state = 'LOADING';
    slot.reason = '';
    let model: ServedModel | null = null;
    try {
      const source = slot.source ?? { folder: path.join(o.modelRepository!, slot.name) };
      model = await ServedModel.load(slot.name, { ...resolveFolder(source), device: o.device, dtype: o.dtype });
      model.attentionOutput = o.attentionOutput;
      await model.warmUp();
    } catch (error) {
      model?.dispose();
      if (!previous) slot.state = 'UNAVAILABLE';
      slot.reason = (error as Error).message;
      throw error;
    }
    const observer = this.metrics.batcherObserver(slot.name);
    const loaded = model;
    const serving: Serving = {
      model: loaded,
      statistics: slot.statistics,
      batcher: new Batcher({
        maxBatch: o.maxBatch,
        maxDelayMs: o.maxDelayMs,
        maxQueue: o.maxQueue,
        run: (inputs, samples) => forwardBatch(loaded, inputs, samples),
        observer: {
          ...observer,
          batch: (requests, samples, seconds) => {
            observer.batch?.(requests, samples, seconds);
            slot.statistics.recordExecution(samples, seconds);
          },
        },
      }),
    };
    slot.serving = serving;
    slot.state = 'READY';
    if (previous) await retire(previous);
  }

  private async unloadSlot(slot: ModelSlot, reason: string): Promise<void> {
    const serving = slot.serving;
    if (!serving) {
      slot.state = 'UNAVAILABLE';
      slot.reason = reason;
      return;
    }
    slot.state = 'UNLOADING';
    slot.reason = reason;
    await retire(serving);
    slot.serving = null;
    slot.state = 'UNAVAILABLE';
  }

  private known(name: string, version?: string): ModelSlot {
    const slot = this.slots.get(name);
    if (!slot) {
      const names = this.names.map((n) => `'${n}'`);
      throw new NotFoundError(
        `unknown model '${name.slice(0, 64)}': this server serves ${names.length === 0 ? 'no models' : names.join(', ')}`,
      );
    }
    if (version !== undefined && version !== MODEL_VERSION) {
      throw new NotFoundError(
        `unknown version '${version.slice(0, 64)}' of model '${name}': its only version is '${MODEL_VERSION}'`,
      );
    }
    return slot;
  }

  /** A known model, or one the repository folder has gained since startup. */
  private slotFor(name: string): ModelSlot {
    if (!this.slots.has(name) && this.options.modelRepository !== undefined && MODEL_NAME_PATTERN.test(name)) {
      if (listRepository(this.options.modelRepository).includes(name)) this.slots.set(name, new ModelSlot(name, null));
    }
    return this.known(name);
  }

  private notServing(slot: ModelSlot): Error {
    switch (slot.state) {
      case 'LOADING':
        return new UnavailableError(`model '${slot.name}' is still loading; retry shortly`, 1);
      case 'UNLOADING':
        return new UnavailableError(`model '${slot.name}' is being unloaded`);
      default:
        return new NotFoundError(
          `model '${slot.name}' is not loaded${slot.reason ? ` (${slot.reason})` : ''}; ` +
            `POST /v2/repository/models/${slot.name}/load loads it`,
        );
    }
  }
}

/** A model folder's files as weights and config; another family's folder (transformers') as weights alone, which
 *  ServedModel reads as loadPretrained does. */
function resolveFolder(source: SlotSource): ModelSource {
  if (source.folder === undefined) return source;
  if (!isVitorchModelFolder(source.folder)) return { weights: source.folder };
  const { weights, config } = readModelFolder(source.folder);
  return { weights, config };
}

/** Answers what is queued for `serving`, then frees its model. */
async function retire(serving: Serving): Promise<void> {
  await serving.batcher.close();
  serving.model.dispose();
}

export { ModelFolderError };
