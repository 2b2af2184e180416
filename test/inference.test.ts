// The inference fast path keeps PyTorch's numbers: the cached position table follows every weight change, reduced
// precision stays within stated tolerances of PyTorch's float32 outputs, asynchronous calls settle in call order,
// and the CPU memory cache can be inspected, limited and emptied.
import { cpuCache, ModelDType, tensor, Tensor, VisionTransformer } from '../lib';
import {
  argmaxPerRow,
  CaseFixture,
  fixturePath,
  manifest,
  PARITY_TOLERANCE,
  readFloat32,
  readTensor,
  relativeMaxError,
} from './fixtures';
import { expectThrows } from './expect-error';

function caseNamed(name: string): CaseFixture {
  const fixture = manifest.cases.find((c) => c.name === name);
  if (!fixture) throw new Error(`no fixture case ${name}`);
  return fixture;
}

function outputError(output: Tensor, fixture: CaseFixture): number {
  return relativeMaxError(output.toFloat32Array(), readFloat32(fixture.output, fixture.outputShape));
}

describe('the resampled position table is recomputed when the weights change', () => {
  // grid-20x20 (320x320 input, so pos_embed is resampled 14x14 -> 20x20) shares its parameter shapes with grid-10x18;
  // the model first runs with grid-10x18's weights, then gets grid-20x20's and must give PyTorch's grid-20x20 output.
  const fixture = caseNamed('grid-20x20-b1');
  const config = manifest.models['grid-20x20'].config;
  const otherWeights = fixturePath(manifest.models['grid-10x18'].checkpoint);
  const rightWeights = fixturePath(manifest.models['grid-20x20'].checkpoint);

  function modelAfterStaleForward(): VisionTransformer {
    const model = new VisionTransformer(config).eval();
    model.loadStateDict(otherWeights);
    using input = readTensor(fixture.input, fixture.inputShape);
    using stale = model.forward(input);
    // The other weights really give other numbers, so a stale table would fail the checks below.
    expect(outputError(stale, fixture)).toBeGreaterThan(100 * PARITY_TOLERANCE);
    return model;
  }

  test('loadStateDict from a file', () => {
    using model = modelAfterStaleForward();
    model.loadStateDict(rightWeights);
    using input = readTensor(fixture.input, fixture.inputShape);
    using output = model.forward(input);
    expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });

  test('loadStateDictAsync, then forwardAsync', async () => {
    using model = modelAfterStaleForward();
    await model.loadStateDictAsync(rightWeights);
    using input = readTensor(fixture.input, fixture.inputShape);
    using output = await model.forwardAsync(input);
    expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });

  test('loadStateDict from tensors', () => {
    using model = modelAfterStaleForward();
    using donor = new VisionTransformer(config);
    donor.loadStateDict(rightWeights);
    const weights = donor.stateDict();
    model.loadStateDict(weights);
    for (const value of weights.values()) value.dispose();
    using input = readTensor(fixture.input, fixture.inputShape);
    using output = model.forward(input);
    expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });

  test('a dtype round trip', () => {
    using model = new VisionTransformer(config).eval();
    model.loadStateDict(rightWeights);
    using input = readTensor(fixture.input, fixture.inputShape);
    model.forward(input).dispose();
    model.to('float64');
    using input64 = input.to('float64');
    using output64 = model.forward(input64);
    expect(outputError(output64, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    model.to({ dtype: 'float32' });
    using output = model.forward(input);
    expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });
});

describe('reduced precision against PyTorch float32', () => {
  // bfloat16 keeps 8 significant bits (relative step 2^-8 = 0.4%), float16 11 bits (0.05%); through the small
  // models' two blocks the outputs stay within these fractions of the output scale.
  const tolerance: Record<ModelDType, number> = {
    float32: PARITY_TOLERANCE,
    float64: PARITY_TOLERANCE,
    bfloat16: 5e-2,
    float16: 1e-2,
  };
  const cases = ['small-b3', 'grid-10x18-b2', 'variant-p32-grid-8x6-b2'];
  describe.each(['bfloat16', 'float16', 'float64'] as ModelDType[])('%s', (dtype) => {
    test.each(cases)('%s', (name) => {
      const fixture = caseNamed(name);
      const modelFixture = manifest.models[fixture.model];
      using model = new VisionTransformer(modelFixture.config).eval();
      model.loadStateDict(fixturePath(modelFixture.checkpoint));
      model.to({ dtype });
      expect(model.dtype).toBe(dtype);
      using input = readTensor(fixture.input, fixture.inputShape);
      using converted = input.to(dtype);
      using output = model.forward(converted);
      expect(output.dtype).toBe(dtype);
      using output32 = output.to('float32');
      const actual = output32.toFloat32Array();
      const expected = readFloat32(fixture.output, fixture.outputShape);
      expect(relativeMaxError(actual, expected)).toBeLessThanOrEqual(tolerance[dtype]);
      const columns = fixture.outputShape[1];
      expect(argmaxPerRow(actual, columns)).toEqual(argmaxPerRow(expected, columns));
      // The input must have the model's dtype; nothing converts it silently.
      expect(() => model.forward(input)).toThrow(
        new TypeError(`expected input of dtype ${dtype} (the model's dtype), received float32`),
      );
    });
  });
});

test('forwardAsync takes one batch as several tensors, joined off the event loop, and gives PyTorch the same logits', async () => {
  const fixture = caseNamed('grid-10x18-b2');
  const { config, checkpoint } = manifest.models['grid-10x18'];
  using model = new VisionTransformer(config).eval();
  model.loadStateDict(fixturePath(checkpoint));
  const pixels = readFloat32(fixture.input, fixture.inputShape);
  const [, c, h, w] = fixture.inputShape;
  const one = c * h * w;
  using first = tensor(pixels.slice(0, one), [1, c, h, w]);
  using second = tensor(pixels.slice(one), [1, c, h, w]);
  using output = await model.forwardAsync([first, second]);
  expect(output.shape).toEqual(fixture.outputShape);
  expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);

  // Every part is checked before anything is queued, and the error names the part.
  using wrongSize = tensor(new Float32Array(3 * 8 * 8), [1, 3, 8, 8]);
  using wrongType = tensor(new Float64Array(one), [1, c, h, w]);
  expect(() => model.forwardAsync([first, wrongSize])).toThrow(
    new RangeError(`input[1]: expected input of shape [N, ${c}, ${h}, ${w}], received [1, 3, 8, 8]`),
  );
  expect(() => model.forwardAsync([wrongType])).toThrow(
    new TypeError("input[0]: expected input of dtype float32 (the model's dtype), received float64"),
  );
  expect(() => model.forwardAsync([first, null as never])).toThrow(TypeError);
  expectThrows(() => model.forwardAsync([]), RangeError, 'expected at least one input tensor, received an empty array');
});

test('asynchronous calls on one model settle in the order they were made', async () => {
  const fixture = caseNamed('small-b1');
  const smallWeights = fixturePath(manifest.models.small.checkpoint);
  // Same parameter shapes as 'small', other values.
  const otherWeights = fixturePath(manifest.models['grid-10x18'].checkpoint);
  using model = new VisionTransformer(manifest.models.small.config).eval();
  model.loadStateDict(smallWeights);
  using input = readTensor(fixture.input, fixture.inputShape);

  const settled: string[] = [];
  const track = <T>(label: string, promise: Promise<T>) =>
    promise.then((value) => {
      settled.push(label);
      return value;
    });
  const before = [1, 2, 3].map((i) => track(`forward ${i}`, model.forwardAsync(input)));
  const load = track('load', model.loadStateDictAsync(otherWeights));
  const after = track('forward 4', model.forwardAsync(input));
  const outputs = await Promise.all([...before, after]);
  await load;

  expect(settled).toEqual(['forward 1', 'forward 2', 'forward 3', 'load', 'forward 4']);
  for (const output of outputs.slice(0, 3)) expect(outputError(output, fixture)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  // The forward queued after the load saw the new weights.
  using reference = new VisionTransformer(manifest.models.small.config).eval();
  reference.loadStateDict(otherWeights);
  using expected = reference.forward(input);
  expect(relativeMaxError(outputs[3].toFloat32Array(), expected.toFloat32Array())).toBeLessThanOrEqual(1e-6);
  for (const output of outputs) output.dispose();
});

describe('the CPU memory cache', () => {
  const config = manifest.models.small.config;
  // Large enough that its activations (4 x 197 x 256 floats in the MLP) are cached blocks.
  const images = tensor(new Float32Array(4 * 3 * 224 * 224).fill(0.5), [4, 3, 224, 224]);

  afterAll(() => {
    images.dispose();
    cpuCache.setLimit(2 ** 30);
  });

  test('same-shaped forwards reuse memory instead of allocating it again', () => {
    // Jest may run every file in this one process: earlier files' idle blocks can fill the cache to its limit, and
    // making room evicts the smallest blocks first, which are this small model's. Start from an empty cache.
    cpuCache.release();
    using model = new VisionTransformer(config).eval();
    model.forward(images).dispose();
    const before = cpuCache.stats();
    for (let i = 0; i < 3; i++) model.forward(images).dispose();
    const after = cpuCache.stats();
    expect(after.reuses).toBeGreaterThan(before.reuses);
    expect(after.freshAllocations).toBe(before.freshAllocations);
    expect(after.cachedBytes).toBeGreaterThan(0);
    expect(after.cachedBytes).toBeLessThanOrEqual(after.limitBytes);
  });

  test('release() frees the idle memory and setLimit(0) turns caching off', () => {
    using model = new VisionTransformer(config).eval();
    model.forward(images).dispose();
    cpuCache.release();
    expect(cpuCache.stats().cachedBytes).toBe(0);
    cpuCache.setLimit(0);
    model.forward(images).dispose();
    expect(cpuCache.stats()).toMatchObject({ cachedBytes: 0, limitBytes: 0 });
    cpuCache.setLimit(64 * 2 ** 20);
    model.forward(images).dispose();
    const stats = cpuCache.stats();
    expect(stats.limitBytes).toBe(64 * 2 ** 20);
    expect(stats.cachedBytes).toBeGreaterThan(0);
    expect(stats.cachedBytes).toBeLessThanOrEqual(64 * 2 ** 20);
  });

  test('bad limits are refused', () => {
    expectThrows(
      () => cpuCache.setLimit(-1),
      RangeError,
      'expected an integer >= 0 for cpuCache.setLimit(bytes), received number -1',
    );
    expect(() => cpuCache.setLimit(1.5)).toThrow(RangeError);
    expect(() => cpuCache.setLimit('1GB' as never)).toThrow(TypeError);
  });
});
