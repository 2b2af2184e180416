// Trainer: whole training steps run natively (forward, loss, backward and the optimizer's update in one call, off
// the event loop), so a training script and an HTTP server can share one process without freezing it. fit() runs
// epochs as the article's train.py does (optionally frozen backbone first, then unfrozen with its own batch size
// and learning rate, the schedule set per epoch or per step) and reports progress as an async iterator of events.
// A Trainer owns its native training session (native/train/training_session.h): the model, the optimizer built from
// an Optimizer's configuration, and that optimizer's state.
import { binding, NativeAutocast, NativeStepOptions, NativeTrainingSession } from '../binding';
import { modelInput } from '../inference-precision';
import { VisionTransformer } from '../model';
import { tensor, Tensor } from '../tensor';
import {
  expected,
  rejectUnknownKeys,
  requireInteger,
  requireNumber,
  requireObject,
  withCallerStack,
} from '../validate';
import { warnIfSlowPrecision } from '../precision-advice';
import { Optimizer } from './optimizer';
import { ProcessGroup } from '../distributed/process-group';

export type Autocast = 'bfloat16' | 'float16';

export interface TrainerOptions {
  /** The optimizer's configuration, made for the same model (sgd(), adam(), adamw()). The Trainer builds the
   *  optimizer and keeps its state; another Trainer built from the same configuration starts from fresh state. */
  optimizer: Optimizer;
  /** Label smoothing of the training loss. Default 0 (the article's plain cross-entropy). */
  labelSmoothing?: number;
  /** Clip the global gradient norm to this before each update. Default: no clipping. */
  maxGradNorm?: number;
  /** Accumulate the gradients of this many batches per update. Default 1. */
  accumulationSteps?: number;
  /** Run forwards in this lower precision (weights stay float32). Pays off on CPUs with AVX-512 BF16 or AMX and on
   *  GPUs; elsewhere it is much slower. Default: off. */
  autocast?: Autocast | null;
  /** Train data-parallel over this process group (initProcessGroup()), with DistributedDataParallel's semantics:
   *  rank 0's weights broadcast at the first step, the gradients averaged across the ranks during each step's
   *  backward (bucketed, overlapped with it), only on steps that update when accumulating. Each rank steps on its
   *  own batches (a shard of the data: BatchLoader's `shard`); step results, fit()'s events and evaluations report
   *  figures over every rank, and all ranks stop after the same step. */
  processGroup?: ProcessGroup;
}

/** One batch as the data layer hands it over: images [N, C, H, W] row-major, and class indices. */
export interface Batch {
  images: Float32Array;
  labels: Int32Array;
}

/** The batches of one epoch: `steps` of them, and how long the consumer waited for data so far. */
export interface EpochBatches {
  batches: AsyncIterable<Batch>;
  steps: number;
  waitMs?: () => number;
}

/** What fit() needs of a schedule (lib/train/schedule.ts makes them): the rate at an epoch position. */
export interface EpochSchedule {
  lrAt(epoch: number): number;
}

export interface FitOptions {
  /** Total epochs (the article's UnFreeze_Epoch). */
  epochs: number;
  /** First epoch to run (0-based), and the step within it, when resuming. Default 0, 0. */
  startEpoch?: number;
  startStep?: number;
  /** When resuming mid-epoch: the 'stopped' event's totals, so that the epoch's loss and accuracy cover all its
   *  steps, not only those after the resume. */
  startTotals?: EpochTotals;
  /** Batch size after the frozen phase (the article's Unfreeze_batch_size). */
  batchSize: number;
  /** The article's Freeze_Train: the first `epochs` with freezeBackbone(), at their own batch size. */
  freeze?: { epochs: number; batchSize?: number };
  /** The training batches of an epoch at a batch size, starting at a batch index (resume). */
  train: (epoch: number, batchSize: number, startStep: number) => EpochBatches;
  /** Validation batches; evaluated after every epoch when given. */
  validation?: (epoch: number, batchSize: number) => EpochBatches;
  /** The learning-rate schedule, in epochs, for a phase's batch size (the article recomputes its rates when the batch
   *  changes). */
  schedule: (batchSize: number) => EpochSchedule;
  /** Set the rate once per epoch at lrAt(epoch), as the article does (default), or before every step at
   *  lrAt(epoch + step / steps). */
  lrEvery?: 'epoch' | 'step';
  /** Stops cleanly after the running step: a 'stopped' event follows, then the iterator ends. */
  signal?: AbortSignal;
  /** Top-k accuracy reported besides top-1. Default 5. */
  topk?: number;
}

export interface StepEvent {
  type: 'step';
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  accuracy: number;
  lr: number;
  imagesPerSecond: number;
  gradNorm: number | null;
}

export interface Evaluation {
  loss: number;
  top1: number;
  topk: number;
  count: number;
  predictions: Int32Array;
  labels: Int32Array;
}

export interface EpochEvent {
  type: 'epoch';
  epoch: number;
  epochs: number;
  loss: number;
  accuracy: number;
  lr: number;
  frozen: boolean;
  batchSize: number;
  imagesPerSecond: number;
  seconds: number;
  dataWaitMs: number;
  validation: Evaluation | null;
}

/** The sums an epoch's loss and accuracy are made of, over the steps run so far. */
export interface EpochTotals {
  lossSum: number;
  correct: number;
  seen: number;
}

export interface StoppedEvent {
  type: 'stopped';
  /** The next epoch and step to run: what a resume starts from. */
  epoch: number;
  step: number;
  /** The stopped epoch's totals so far (zero at an epoch boundary): a resume passes them back as startTotals. */
  totals: EpochTotals;
}

export type TrainingEvent = StepEvent | EpochEvent | StoppedEvent;

export interface StepResult {
  /** This process's batch: its mean loss, top-1 hits and size. */
  loss: number;
  correct: number;
  count: number;
  gradNorm: number | null;
  /** The step's batch over every rank of a data-parallel Trainer (the same as loss, correct and count without a
   *  process group). */
  global: { loss: number; correct: number; count: number };
  /** Whether any rank asked to stop at this step (step's `stop` option; fit() passes its signal). */
  stop: boolean;
}

function requireTensorArgument(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) throw new TypeError(expected('a Tensor', argument, value));
  return value;
}

export class Trainer {
  readonly model: VisionTransformer;
  /** The configuration this Trainer's optimizer was built from. */
  readonly optimizer: Optimizer;
  /** The process group of a data-parallel Trainer, or null. */
  readonly processGroup: ProcessGroup | null;
  private readonly session: NativeTrainingSession;
  private readonly stepOptions: NativeStepOptions;

  constructor(model: VisionTransformer, options: TrainerOptions) {
    if (!(model instanceof VisionTransformer)) throw new TypeError(expected('a VisionTransformer', 'model', model));
    const o = requireObject(options, 'Trainer options');
    rejectUnknownKeys(
      o,
      ['optimizer', 'labelSmoothing', 'maxGradNorm', 'accumulationSteps', 'autocast', 'processGroup'],
      'Trainer options',
    );
    if (!(o.optimizer instanceof Optimizer))
      throw new TypeError(expected('an Optimizer (sgd(), adam(), adamw())', 'optimizer', o.optimizer));
    if (o.optimizer.model !== model)
      throw new RangeError('expected an optimizer built on this model, received one of another model');
    let autocast: NativeAutocast = null;
    if (o.autocast !== undefined && o.autocast !== null) {
      if (o.autocast !== 'bfloat16' && o.autocast !== 'float16') {
        throw new RangeError(expected("'bfloat16', 'float16' or null", 'autocast', o.autocast));
      }
      autocast = o.autocast;
      warnIfSlowPrecision(autocast, model.device, `${autocast} autocast`);
    }
    if (o.processGroup !== undefined && !(o.processGroup instanceof ProcessGroup)) {
      throw new TypeError(expected('a ProcessGroup (initProcessGroup())', 'processGroup', o.processGroup));
    }
    this.model = model;
    this.optimizer = o.optimizer;
    this.processGroup = o.processGroup ?? null;
    this.session = new binding.NativeTrainingSession(model.native, o.optimizer.spec, this.processGroup?.native);
    this.stepOptions = {
      labelSmoothing:
        o.labelSmoothing === undefined
          ? 0
          : requireNumber(o.labelSmoothing, 'labelSmoothing', (n) => n >= 0 && n <= 1, 'a number in [0, 1]'),
      maxGradNorm:
        o.maxGradNorm === undefined
          ? 0
          : requireNumber(o.maxGradNorm, 'maxGradNorm', (n) => n > 0, 'a positive number'),
      accumulationSteps:
        o.accumulationSteps === undefined ? 1 : requireInteger(o.accumulationSteps, 'accumulationSteps', 1),
      applyUpdate: true,
      autocast,
    };
  }

  /** Frees the optimizer's state (Adam's moments: twice the weights' size) now instead of when the Trainer is
   *  collected, and lets go of the model, which stays usable. Calls already made finish first; later calls throw a
   *  DisposedError. */
  dispose(): void {
    this.session.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  get disposed(): boolean {
    return this.session.disposed;
  }

  get accumulationSteps(): number {
    return this.stepOptions.accumulationSteps;
  }
  get autocast(): Autocast | null {
    return this.stepOptions.autocast;
  }

  /** The base learning rate (group g runs at lr * its lrScale). Setting it is what schedules do; step({ lr }) and
   *  fit() set it too. */
  get lr(): number {
    const group = this.session.groups[0];
    return group === undefined || group.lrScale === 0 ? 0 : this.session.learningRates[0] / group.lrScale;
  }
  set lr(value: number) {
    this.session.setLearningRate(requireNumber(value, 'lr', (n) => n >= 0, 'a non-negative number'));
  }
  /** Each parameter group's current learning rate. */
  get learningRates(): number[] {
    return this.session.learningRates;
  }
  /** The optimizer's parameter groups as it holds them now (loadState restores the saved weight decays). */
  get groups(): { params: string[]; lrScale: number; weightDecay: number }[] {
    return this.session.groups.map((g) => ({ params: g.names, lrScale: g.lrScale, weightDecay: g.weightDecay }));
  }

  /** For loops written in JS (forward, crossEntropy, backward): applies the optimizer's update from the gradients
   *  that backward() accumulated, then resets them (model.zeroGrad() resets them without an update). The global
   *  gradient norm is clipped to maxGradNorm first (default: this Trainer's maxGradNorm; 0: no clipping) and returned
   *  as before clipping; null when not clipping. Synchronous: refused while asynchronous calls on the model run.
   *  Refused by a data-parallel Trainer, whose gradients only step() averages across the ranks. */
  update(options: { maxGradNorm?: number } = {}): number | null {
    const o = requireObject(options, 'update options');
    rejectUnknownKeys(o, ['maxGradNorm'], 'update options');
    const maxGradNorm =
      o.maxGradNorm === undefined
        ? this.stepOptions.maxGradNorm
        : requireNumber(o.maxGradNorm, 'maxGradNorm', (n) => n >= 0, 'a non-negative number');
    return this.session.applyUpdate(maxGradNorm);
  }

  /** One native step: forward, loss, backward, and (unless accumulating, `update: false`) the optimizer's update,
   *  at learning rate `lr` when given. The event loop stays free meanwhile. The model must be in training mode
   *  (model.train(); fit() sets it): a step on a model in evaluation mode is refused, not silently switched.
   *  Data-parallel: every rank must call step() as many times, with the same `update`; `stop: true` on any rank
   *  makes this step's result say `stop` on all of them. */
  step(
    images: Tensor,
    labels: Tensor,
    options: { lr?: number; update?: boolean; stop?: boolean } = {},
  ): Promise<StepResult> {
    const callerStack = new Error().stack;
    requireTensorArgument(images, 'images');
    requireTensorArgument(labels, 'labels');
    const o = requireObject(options, 'step options');
    rejectUnknownKeys(o, ['lr', 'update', 'stop'], 'step options');
    const lr = o.lr === undefined ? undefined : requireNumber(o.lr, 'lr', (n) => n >= 0, 'a non-negative number');
    const stepOptions = {
      ...this.stepOptions,
      applyUpdate: o.update === undefined ? true : o.update === true,
      stopRequested: o.stop === true,
    };
    return withCallerStack(this.session.stepAsync(images.native, labels.native, stepOptions, lr), callerStack);
  }

  /** Evaluates one batch in evaluation mode without autograd: summed plain cross-entropy, top-1 and top-k hits,
   *  and each image's top-1 class. */
  async evaluate(images: Tensor, labels: Tensor, topk = 5) {
    const callerStack = new Error().stack;
    requireTensorArgument(images, 'images');
    requireTensorArgument(labels, 'labels');
    requireInteger(topk, 'topk', 1);
    return withCallerStack(
      this.session.evaluateAsync(images.native, labels.native, topk, this.stepOptions.autocast),
      callerStack,
    );
  }

  /** Evaluates every batch: mean loss, top-1 and top-k accuracy, the predictions and labels in order. A
   *  data-parallel Trainer evaluates each rank's batches (its shard) and combines the ranks': every rank receives the
   *  figures over all of them, and the predictions and labels of rank 0's batches, then rank 1's, and so on. The
   *  images become the model's input as it runs (its dtype and device), so that a model at another precision, a
   *  quantized one included, is evaluated as it is served (`vitorch eval --dtype`). */
  async evaluateAll(batches: AsyncIterable<Batch>, topk = 5): Promise<Evaluation> {
    let lossSum = 0;
    let top1 = 0;
    let topkHits = 0;
    const predictions: Int32Array[] = [];
    const labels: Int32Array[] = [];
    for await (const batch of batches) {
      const { images, labelTensor } = this.toTensors(batch, 'model-input');
      try {
        const result = await this.evaluate(images, labelTensor, topk);
        lossSum += result.lossSum;
        top1 += result.top1;
        topkHits += result.topk;
        predictions.push(result.predictions);
        labels.push(batch.labels);
      } finally {
        images.dispose();
        labelTensor.dispose();
      }
    }
    let count = labels.reduce((n, l) => n + l.length, 0);
    let allPredictions = concat(predictions);
    let allLabels = concat(labels);
    if (this.processGroup) {
      const gathered = await gatherEvaluation(this.processGroup, [lossSum, top1, topkHits], allPredictions, allLabels);
      [lossSum, top1, topkHits] = gathered.sums;
      allPredictions = gathered.predictions;
      allLabels = gathered.labels;
      count = allLabels.length;
    }
    return {
      loss: count === 0 ? NaN : lossSum / count,
      top1: count === 0 ? NaN : top1 / count,
      topk: count === 0 ? NaN : topkHits / count,
      count,
      predictions: allPredictions,
      labels: allLabels,
    };
  }

  /** Writes the whole training state (weights, optimizer state, the random generator's state and `state`, any
   *  JSON-serialisable value of the caller's) to one file, atomically, off the event loop. */
  saveState(path: string, state: unknown = null): Promise<void> {
    const callerStack = new Error().stack;
    return withCallerStack(this.session.saveStateAsync(path, JSON.stringify(state ?? null)), callerStack);
  }

  /** Restores what saveState wrote, after checking it was written for this model and optimizer; returns `state`. */
  async loadState(path: string): Promise<unknown> {
    const callerStack = new Error().stack;
    return JSON.parse(await withCallerStack(this.session.loadStateAsync(path), callerStack));
  }

  /** A batch as tensors: float32 images on the CPU for training steps; with 'model-input', images of the model's
   *  dtype and device, as evaluation runs it. */
  private toTensors(
    batch: Batch,
    images: 'float32' | 'model-input' = 'float32',
  ): { images: Tensor; labelTensor: Tensor } {
    const { inChans, inputShape } = this.model.options;
    const perImage = inChans * inputShape[0] * inputShape[1];
    const count = batch.labels.length;
    if (batch.images.length !== count * perImage) {
      throw new RangeError(
        `expected ${count} images of ${inChans}x${inputShape[0]}x${inputShape[1]} (${count * perImage} ` +
          `values) for a batch of ${count} labels, received ${batch.images.length} values`,
      );
    }
    const shape = [count, inChans, inputShape[0], inputShape[1]];
    return {
      images: images === 'model-input' ? modelInput(this.model, batch.images, shape) : tensor(batch.images, shape),
      labelTensor: tensor(batch.labels, [count]),
    };
  }

  /** Trains for options.epochs, yielding a 'step' event after every step and an 'epoch' event after every epoch
   *  (with validation when given). Stops after the running step when options.signal aborts, yielding 'stopped'.
   *  Puts the model in training mode when it starts and, when it ends (finished, stopped, broken out of or failed),
   *  back in the mode it found it in. */
  async *fit(options: FitOptions): AsyncGenerator<TrainingEvent, void, undefined> {
    const o = validateFitOptions(options);
    const wasTraining = this.model.training;
    if (!wasTraining) this.model.train();
    try {
      yield* this.epochs(o);
    } finally {
      if (!wasTraining && !this.model.disposed) this.model.eval();
    }
  }

  private async *epochs(o: ReturnType<typeof validateFitOptions>): AsyncGenerator<TrainingEvent, void, undefined> {
    const accumulation = this.stepOptions.accumulationSteps;
    let frozen: boolean | undefined;
    for (let epoch = o.startEpoch; epoch < o.epochs; epoch++) {
      const inFreeze = o.freeze !== undefined && epoch < o.freeze.epochs;
      if (inFreeze !== frozen) {
        if (inFreeze) this.model.freezeBackbone();
        else if (frozen !== undefined || o.freeze !== undefined) this.model.unfreezeBackbone();
        frozen = inFreeze;
      }
      const batchSize = inFreeze ? (o.freeze!.batchSize ?? o.batchSize) : o.batchSize;
      const schedule = o.schedule(batchSize);
      const startStep = epoch === o.startEpoch ? o.startStep : 0;
      const data = o.train(epoch, batchSize, startStep);
      const started = performance.now();
      const resumed = epoch === o.startEpoch && startStep > 0 ? o.startTotals : undefined;
      let lossSum = resumed?.lossSum ?? 0;
      let correct = resumed?.correct ?? 0;
      let seen = resumed?.seen ?? 0;
      // Throughput counts only the images trained here, in this epoch's time.
      let seenHere = 0;
      let lr = schedule.lrAt(epoch);
      let step = startStep;
      const parallel = this.processGroup !== null;
      let stopAgreed = false;
      for await (const batch of data.batches) {
        // Alone, a stop takes effect before the next step; data-parallel, the request rides on the next step and
        // every rank stops after it (the ranks cannot stop at different steps).
        if (!parallel && o.signal?.aborted) {
          yield { type: 'stopped', epoch, step, totals: { lossSum, correct, seen } };
          return;
        }
        lr = o.lrEvery === 'step' ? schedule.lrAt(epoch + step / data.steps) : schedule.lrAt(epoch);
        const update = (step + 1) % accumulation === 0 || step + 1 === data.steps;
        const { images, labelTensor } = this.toTensors(batch);
        let result: StepResult;
        try {
          result = await this.step(images, labelTensor, { lr, update, stop: o.signal?.aborted === true });
        } finally {
          images.dispose();
          labelTensor.dispose();
        }
        step++;
        const global = result.global;
        lossSum += global.loss * global.count;
        correct += global.correct;
        seen += global.count;
        seenHere += global.count;
        const seconds = (performance.now() - started) / 1000;
        yield {
          type: 'step',
          epoch,
          step,
          steps: data.steps,
          loss: global.loss,
          accuracy: global.correct / global.count,
          lr,
          imagesPerSecond: seenHere / seconds,
          gradNorm: result.gradNorm,
        };
        if (result.stop && step < data.steps) {
          yield { type: 'stopped', epoch, step, totals: { lossSum, correct, seen } };
          return;
        }
        stopAgreed = result.stop;
      }
      if (!parallel && o.signal?.aborted && step < data.steps) {
        yield { type: 'stopped', epoch, step, totals: { lossSum, correct, seen } };
        return;
      }
      const seconds = (performance.now() - started) / 1000;
      const validation = o.validation ? await this.evaluateAll(o.validation(epoch, batchSize).batches, o.topk) : null;
      yield {
        type: 'epoch',
        epoch,
        epochs: o.epochs,
        loss: lossSum / seen,
        accuracy: correct / seen,
        lr,
        frozen: inFreeze,
        batchSize,
        imagesPerSecond: seenHere / seconds,
        seconds,
        dataWaitMs: data.waitMs?.() ?? 0,
        validation,
      };
      // Data-parallel ranks agree on stopping at an epoch's end too (a signal may arrive during validation).
      if (parallel && !stopAgreed) {
        stopAgreed = (await this.processGroup!.allReduceSum([o.signal?.aborted ? 1 : 0]))[0] > 0;
      }
      if (parallel ? stopAgreed : o.signal?.aborted) {
        yield { type: 'stopped', epoch: epoch + 1, step: 0, totals: { lossSum: 0, correct: 0, seen: 0 } };
        return;
      }
    }
  }
}

/** Every rank's evaluation sums added up, and its predictions and labels concatenated in rank order: an all-gather
 *  made of two sum all-reduces (each rank fills its own slice of a zeroed array), which c10d's Gloo does for
 *  float64. */
async function gatherEvaluation(
  group: ProcessGroup,
  sums: number[],
  predictions: Int32Array,
  labels: Int32Array,
): Promise<{ sums: number[]; predictions: Int32Array; labels: Int32Array }> {
  const header = new Float64Array(sums.length + group.worldSize);
  header.set(sums);
  header[sums.length + group.rank] = labels.length;
  const reduced = await group.allReduceSum(header);
  const counts = Array.from(reduced.subarray(sums.length));
  const total = counts.reduce((a, b) => a + b, 0);
  const offset = counts.slice(0, group.rank).reduce((a, b) => a + b, 0);
  const pairs = new Float64Array(2 * total);
  for (let i = 0; i < labels.length; i++) {
    pairs[offset + i] = predictions[i];
    pairs[total + offset + i] = labels[i];
  }
  const gathered = await group.allReduceSum(pairs);
  return {
    sums: Array.from(reduced.subarray(0, sums.length)),
    predictions: Int32Array.from(gathered.subarray(0, total)),
    labels: Int32Array.from(gathered.subarray(total)),
  };
}

function concat(parts: Int32Array[]): Int32Array {
  const result = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

function lrEvery(value: unknown): 'epoch' | 'step' {
  if (value === undefined || value === 'epoch' || value === 'step') return value ?? 'epoch';
  throw new RangeError(expected("'epoch' or 'step'", 'lrEvery', value));
}

function validateFitOptions(options: FitOptions) {
  const o = requireObject(options, 'fit options');
  rejectUnknownKeys(
    o,
    [
      'epochs',
      'startEpoch',
      'startStep',
      'startTotals',
      'batchSize',
      'freeze',
      'train',
      'validation',
      'schedule',
      'signal',
      'topk',
      'lrEvery',
    ],
    'fit options',
  );
  const epochs = requireInteger(o.epochs, 'epochs', 1);
  const startEpoch = o.startEpoch === undefined ? 0 : requireInteger(o.startEpoch, 'startEpoch', 0, epochs);
  const startStep = o.startStep === undefined ? 0 : requireInteger(o.startStep, 'startStep', 0);
  const batchSize = requireInteger(o.batchSize, 'batchSize', 1);
  let startTotals: EpochTotals | undefined;
  if (o.startTotals !== undefined) {
    const t = requireObject(o.startTotals, 'startTotals');
    rejectUnknownKeys(t, ['lossSum', 'correct', 'seen'], 'startTotals');
    startTotals = {
      lossSum: requireNumber(t.lossSum, 'startTotals.lossSum', Number.isFinite, 'a finite number'),
      correct: requireInteger(t.correct, 'startTotals.correct', 0),
      seen: requireInteger(t.seen, 'startTotals.seen', 0),
    };
  }
  let freeze: { epochs: number; batchSize?: number } | undefined;
  if (o.freeze !== undefined) {
    const f = requireObject(o.freeze, 'freeze');
    rejectUnknownKeys(f, ['epochs', 'batchSize'], 'freeze');
    freeze = {
      epochs: requireInteger(f.epochs, 'freeze.epochs', 0, epochs),
      batchSize: f.batchSize === undefined ? undefined : requireInteger(f.batchSize, 'freeze.batchSize', 1),
    };
  }
  for (const key of ['train', 'schedule'] as const) {
    if (typeof o[key] !== 'function') throw new TypeError(expected('a function', key, o[key]));
  }
  if (o.validation !== undefined && typeof o.validation !== 'function') {
    throw new TypeError(expected('a function', 'validation', o.validation));
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new TypeError(expected('an AbortSignal', 'signal', o.signal));
  return {
    epochs,
    startEpoch,
    startStep,
    startTotals,
    batchSize,
    freeze,
    train: o.train as FitOptions['train'],
    validation: o.validation as FitOptions['validation'],
    schedule: o.schedule as FitOptions['schedule'],
    signal: o.signal as AbortSignal | undefined,
    topk: o.topk === undefined ? 5 : requireInteger(o.topk, 'topk', 1),
    lrEvery: lrEvery(o.lrEvery),
  };
}
