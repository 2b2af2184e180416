// forwardAsync runs off the main thread: while ViT-B/16 works through a batch, a 5 ms timer keeps firing.
import { tensor, VisionTransformer } from '../lib';
import { fixturePath, manifest } from './fixtures';

test('a timer keeps firing on the event loop while forwardAsync runs a batch', async () => {
  const fixture = manifest.models['vit-b16'];
  using model = new VisionTransformer(fixture.config);
  await model.loadStateDictAsync(fixturePath(fixture.checkpoint));
  model.eval();
  using batch = tensor(new Float32Array(4 * 3 * 224 * 224).fill(0.25), [4, 3, 224, 224]);

  const ticks: number[] = [];
  const timer = setInterval(() => ticks.push(performance.now()), 5);
  const started = performance.now();
  using output = await model.forwardAsync(batch);
  const finished = performance.now();
  clearInterval(timer);

  expect(output.shape).toEqual([4, 1000]);
  const during = ticks.filter((t) => t >= started && t <= finished);
  // A blocked loop would give no tick at all until the forward returned; a free one ticks all along.
  expect(finished - started).toBeGreaterThan(100);
  expect(during.length).toBeGreaterThanOrEqual(Math.floor((finished - started) / 5 / 4));
  const gaps = during.slice(1).map((t, i) => t - during[i]);
  expect(Math.max(...gaps)).toBeLessThan(100);
});

test('concurrent forwardAsync calls on one model all resolve with the right numbers', async () => {
  const fixture = manifest.models.small;
  using model = new VisionTransformer(fixture.config);
  model.loadStateDict(fixturePath(fixture.checkpoint));
  model.eval();
  const inputs = [0.1, 0.2, 0.3, 0.4].map((v) => tensor(new Float32Array(3 * 224 * 224).fill(v), [1, 3, 224, 224]));
  const expected = inputs.map((input) => model.forward(input).toFloat32Array());
  const outputs = await Promise.all(inputs.map((input) => model.forwardAsync(input)));
  outputs.forEach((output, i) => expect(output.toFloat32Array()).toEqual(expected[i]));
  // Changing the model while calls are in flight is refused instead of racing them.
  const pending = model.forwardAsync(inputs[0]);
  expect(() => model.train()).toThrow(/cannot switch to training mode while 1 asynchronous call/);
  await pending;
  model.train();
  expect(model.training).toBe(true);
});

test('disposing a model while forwardAsync runs loses nothing', async () => {
  const model = new VisionTransformer(manifest.models.small.config).eval();
  using input = tensor(new Float32Array(3 * 224 * 224).fill(0.5), [1, 3, 224, 224]);
  const pending = model.forwardAsync(input);
  model.dispose();
  using output = await pending;
  expect(output.shape).toEqual([1, 10]);
});
