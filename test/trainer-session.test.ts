// The Trainer owns its native training session; an Optimizer is only its configuration. A step needs the model in
// training mode and fit() sets it (and restores it); labels are checked once, on the host, with an exact message.
import { adamw, crossEntropy, sgd, tensor, Tensor, Trainer, VisionTransformer, VisionTransformerOptions } from '../lib';
import type { Batch, TrainingEvent } from '../lib/train/trainer';
import { DisposedError } from '../lib';
import { expectThrows } from './expect-error';

const CONFIG: VisionTransformerOptions = {
  inputShape: [8, 8],
  patchSize: 4,
  inChans: 1,
  numClasses: 10,
  numFeatures: 64,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  dropRate: 0,
  attnDropRate: 0,
  dropPathRate: 0,
};
const BATCH = 4;

function batch(labels: number[] = [0, 1, 2, 3]): { images: Tensor; labels: Tensor } {
  const images = Float32Array.from({ length: labels.length * 64 }, (_, i) => Math.sin(i));
  return { images: tensor(images, [labels.length, 1, 8, 8]), labels: tensor(Int32Array.from(labels), [labels.length]) };
}

function weights(model: VisionTransformer): Float32Array[] {
  return model.namedParameters().map(([, p]) => {
    const values = p.toFloat32Array();
    p.dispose();
    return values;
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('an Optimizer is configuration; the Trainer owns the optimizer', () => {
  test('the configuration is frozen and has no update of its own', () => {
    const model = new VisionTransformer(CONFIG);
    const optimizer = adamw(model, { lr: 1e-3, groups: [{ params: ['head.weight'], lrScale: 2 }] });
    expect(optimizer.kind).toBe('adamw');
    expect(Object.isFrozen(optimizer.spec)).toBe(true);
    expect(Object.isFrozen(optimizer.spec.groups![0])).toBe(true);
    expect('step' in optimizer).toBe(false);
    const trainer = new Trainer(model, { optimizer });
    expect(trainer.optimizer).toBe(optimizer);
    expect(trainer.groups).toEqual([{ params: ['head.weight'], lrScale: 2, weightDecay: 0.05 }]);
    expect(trainer.learningRates).toEqual([2e-3]);
    trainer.lr = 0.5;
    expect(trainer.lr).toBe(0.5);
    expect(trainer.learningRates).toEqual([1]);
    model.dispose();
  });

  test('update() applies the gradients of a backward run from JS, clipping as the Trainer is configured', () => {
    const model = new VisionTransformer(CONFIG).train();
    const clipped = new Trainer(model, { optimizer: sgd(model), maxGradNorm: 1 });
    const { images, labels } = batch();
    const before = weights(model);
    crossEntropy(model.forward(images), labels).backward();
    const norm = clipped.update();
    expect(typeof norm).toBe('number');
    expect(norm).toBeGreaterThan(0);
    expect(weights(model)).not.toEqual(before);
    // The update resets the gradients.
    model.namedParameters().forEach(([, p]) => {
      expect(p.grad).toBeNull();
      p.dispose();
    });
    crossEntropy(model.forward(images), labels).backward();
    expect(clipped.update({ maxGradNorm: 0 })).toBeNull();
    expect(thrown(() => clipped.update({ maxGradNorm: -1 }))).toBeInstanceOf(RangeError);
    expect(thrown(() => clipped.update({ clip: 1 } as never))).toBeInstanceOf(TypeError);
    model.dispose();
  });
});

describe("the model's mode", () => {
  test('a step on a model in evaluation mode is refused and changes nothing', async () => {
    const model = new VisionTransformer(CONFIG).eval();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    const { images, labels } = batch();
    const before = weights(model);
    const error = await rejection(trainer.step(images, labels));
    expect(error.constructor).toBe(Error);
    expect(error.message).toBe(
      'expected the model in training mode for a training step (model.train()), received a ' +
        'model in evaluation mode',
    );
    expect(model.training).toBe(false);
    expect(weights(model)).toEqual(before);
    model.train();
    await trainer.step(images, labels);
    expect(weights(model)).not.toEqual(before);
    model.dispose();
  });

  const fitOptions = (model: VisionTransformer, modes: boolean[], epochs = 2) => ({
    epochs,
    batchSize: BATCH,
    schedule: () => ({ lrAt: () => 1e-2 }),
    train: () => ({
      steps: 2,
      batches: (async function* (): AsyncGenerator<Batch> {
        for (let i = 0; i < 2; i++) {
          modes.push(model.training);
          const images = Float32Array.from({ length: BATCH * 64 }, (_, j) => Math.cos(i + j));
          yield { images, labels: Int32Array.from([0, 1, 2, 3]) };
        }
      })(),
    }),
    validation: () => ({
      steps: 1,
      batches: (async function* (): AsyncGenerator<Batch> {
        yield { images: new Float32Array(BATCH * 64), labels: Int32Array.from([4, 5, 6, 7]) };
      })(),
    }),
  });

  test('fit() trains in training mode and puts the model back in evaluation mode after', async () => {
    const model = new VisionTransformer(CONFIG).eval();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    const modes: boolean[] = [];
    const events: TrainingEvent[] = [];
    for await (const event of trainer.fit(fitOptions(model, modes))) {
      events.push(event);
      expect(model.training).toBe(true);
    }
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(2);
    expect(modes).toEqual([true, true, true, true]);
    expect(model.training).toBe(false);
    model.dispose();
  });

  test('fit() restores the mode when broken out of, and leaves a model in training mode there', async () => {
    const model = new VisionTransformer(CONFIG).eval();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    for await (const event of trainer.fit(fitOptions(model, []))) {
      if (event.type === 'step') break;
    }
    expect(model.training).toBe(false);
    model.train();
    for await (const event of trainer.fit(fitOptions(model, [], 1))) void event;
    expect(model.training).toBe(true);
    model.dispose();
  });

  test("evaluate() runs in evaluation mode and keeps the model's mode", async () => {
    const model = new VisionTransformer(CONFIG).train();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    const { images, labels } = batch();
    const result = await trainer.evaluate(images, labels);
    expect(result.count).toBe(BATCH);
    expect(model.training).toBe(true);
    model.dispose();
  });
});

describe('labels are checked once, where the caller handed them over', () => {
  const message = (value: number, index: number) =>
    `expected labels in [0, 9] (the model has 10 classes), received ${value} at index ${index}`;

  test('a step, an evaluation and crossEntropy name the first bad label and its index', async () => {
    const model = new VisionTransformer(CONFIG).train();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    const before = weights(model);
    const cases = [
      [[0, 12, 3, 12], 12, 1],
      [[0, -1, 3, -2], -2, 3],
      [[10, 1, 2, 3], 10, 0],
    ] as const;
    for (const [labels, value, index] of cases) {
      const b = batch([...labels]);
      const stepError = await rejection(trainer.step(b.images, b.labels));
      expect(stepError).toBeInstanceOf(RangeError);
      expect(stepError.message).toBe(message(value, index));
      const evaluationError = await rejection(trainer.evaluate(b.images, b.labels));
      expect(evaluationError).toBeInstanceOf(RangeError);
      expect(evaluationError.message).toBe(message(value, index));
      const lossError = thrown(() => crossEntropy(model.forward(b.images), b.labels));
      expect(lossError).toBeInstanceOf(RangeError);
      expect(lossError.message).toBe(message(value, index));
    }
    expect(weights(model)).toEqual(before);
    model.dispose();
  });

  test('int64 labels are checked as int32 ones are', async () => {
    const model = new VisionTransformer(CONFIG).train();
    const trainer = new Trainer(model, { optimizer: sgd(model) });
    const { images } = batch();
    const labels = tensor(BigInt64Array.from([0n, 1n, 2n, 11n]), [4]);
    const error = await rejection(trainer.step(images, labels));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe(message(11, 3));
    const fine = tensor(BigInt64Array.from([0n, 1n, 2n, 9n]), [4]);
    expect((await trainer.step(images, fine)).count).toBe(4);
    model.dispose();
  });
});

describe('dispose() frees the optimizer state now', () => {
  test('a step already made finishes; later calls throw a DisposedError; the model stays usable', async () => {
    const model = new VisionTransformer(CONFIG).train();
    const trainer = new Trainer(model, { optimizer: adamw(model, { lr: 1e-3 }) });
    const { images, labels } = batch();
    const pending = trainer.step(images, labels);
    trainer.dispose();
    expect(trainer.disposed).toBe(true);
    const result = await pending;
    expect(Number.isFinite(result.loss)).toBe(true);
    const message = 'this Trainer has been disposed';
    // Like forwardAsync on a disposed model: refused when called, before any promise exists.
    expectThrows(() => trainer.step(images, labels), DisposedError, message);
    expectThrows(() => trainer.learningRates, DisposedError, message);
    expectThrows(
      () => {
        trainer.lr = 0.1;
      },
      DisposedError,
      message,
    );
    trainer.dispose(); // a second dispose does nothing
    {
      using again = new Trainer(model, { optimizer: sgd(model, { lr: 0.1 }) });
      await again.step(images, labels);
    }
    using x = images.to('float32');
    using y = model.forward(x);
    expect(y.shape).toEqual([BATCH, 10]);
    images.dispose();
    labels.dispose();
    model.dispose();
  });
});

// An evaluation caches the position embedding resampled to the input's grid, keyed by pos_embed's version counter;
// libtorch's SGD writes the weights without moving it, so before every update bumped it an evaluation after SGD steps
// used the first evaluation's position embedding. The oracle: a fresh model holding the trained weights, no cache.
test.each(['sgd', 'adamw'] as const)('an evaluation after %s steps sees the updated weights', async (kind) => {
  const options: VisionTransformerOptions = {
    inputShape: [8, 8],
    patchSize: 4,
    inChans: 1,
    numClasses: 3,
    numFeatures: 16,
    depth: 1,
    numHeads: 2,
  };
  const model = new VisionTransformer(options).train();
  const trainer = new Trainer(model, { optimizer: kind === 'sgd' ? sgd(model, { lr: 0.5 }) : adamw(model) });
  const images = tensor(
    new Float32Array(4 * 64).map((_, i) => Math.sin(i)),
    [4, 1, 8, 8],
  );
  const labels = tensor(new Int32Array([0, 1, 2, 0]), [4]);
  await trainer.evaluate(images, labels);
  for (let i = 0; i < 3; i++) await trainer.step(images, labels);
  const after = await trainer.evaluate(images, labels);
  const fresh = new VisionTransformer(options);
  fresh.loadStateDict(model.stateDict());
  const reference = await new Trainer(fresh, { optimizer: sgd(fresh) }).evaluate(images, labels);
  expect(after.lossSum).toBe(reference.lossSum);
});
