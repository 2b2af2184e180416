// Native memory is released: hundreds of tensors and forwards, disposed as a user should, leave resident memory
// flat. A leak of one input tensor per iteration would add ~300 MB here, far beyond the bound.
import { tensor, VisionTransformer } from '../lib';
import { fixturePath, manifest } from './fixtures';

const ITERATIONS = 500;
const INPUT_BYTES = 3 * 224 * 224 * 4;

function residentBytes(): number {
  return process.memoryUsage().rss;
}

test('forward + dispose, repeated, keeps resident memory flat', async () => {
  using model = new VisionTransformer({ ...manifest.models.small.config, depth: 1 }).eval();
  const pixels = new Float32Array(3 * 224 * 224).fill(0.1);
  const step = async (asynchronous: boolean) => {
    using input = tensor(pixels, [1, 3, 224, 224]);
    using output = asynchronous ? await model.forwardAsync(input) : model.forward(input);
    output.toFloat32Array();
  };
  for (let i = 0; i < 50; i++) await step(i % 2 === 0); // warm-up: allocator caches, lazy initialisation
  const before = residentBytes();
  for (let i = 0; i < ITERATIONS; i++) await step(i % 2 === 0);
  const grown = residentBytes() - before;
  expect(grown).toBeLessThan((ITERATIONS * INPUT_BYTES) / 10);
});

test('loading a checkpoint repeatedly does not accumulate memory', () => {
  const fixture = manifest.models.small;
  using model = new VisionTransformer(fixture.config);
  const path = fixturePath(fixture.checkpoint);
  for (let i = 0; i < 20; i++) model.loadStateDict(path);
  const before = residentBytes();
  for (let i = 0; i < 200; i++) model.loadStateDict(path);
  // The checkpoint is ~0.66 MB: keeping every copy would add ~130 MB.
  expect(residentBytes() - before).toBeLessThan(20 * 1024 * 1024);
});
