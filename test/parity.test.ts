// vitorch's outputs against PyTorch's, for the same checkpoints and inputs (eval mode, fp32): small
// configurations and the full ViT-B/16, square and non-square inputs, grids larger and smaller than 14x14,
// batch 1 and batch > 1. Golden outputs come from tools/reference_vit.py (cross-checked against timm).
import { VisionTransformer } from '../lib';
import { errorAgainst, fixturePath, manifest, PARITY_TOLERANCE, readTensor } from './fixtures';

const models = new Map<string, VisionTransformer>();

function loadedModel(name: string): VisionTransformer {
  let model = models.get(name);
  if (!model) {
    const fixture = manifest.models[name];
    model = new VisionTransformer(fixture.config);
    model.loadStateDict(fixturePath(fixture.checkpoint), { strict: true });
    model.eval();
    models.set(name, model);
  }
  return model;
}

afterAll(() => {
  for (const model of models.values()) model.dispose();
});

describe('parameter names and shapes equal the seed state_dict', () => {
  test.each(Object.keys(manifest.models))('%s', (name) => {
    const fixture = manifest.models[name];
    const model = new VisionTransformer(fixture.config);
    const parameters = model.namedParameters();
    expect(parameters.map(([key]) => key)).toEqual(fixture.parameterNames);
    expect(parameters.map(([, value]) => value.shape)).toEqual(fixture.parameterShapes);
    model.dispose();
  });
});

describe('forward matches PyTorch within 1e-4 of the output scale', () => {
  test.each(manifest.cases.map((c) => [c.name, c] as const))('%s', (_name, fixture) => {
    const model = loadedModel(fixture.model);
    using input = readTensor(fixture.input, fixture.inputShape);
    using output = model.forward(input);
    expect(output.shape).toEqual(fixture.outputShape);
    const error = errorAgainst(output, fixture.output, fixture.outputShape);
    expect(error).toBeLessThanOrEqual(PARITY_TOLERANCE);
  });
});

test('forwardAsync gives the same numbers as forward', async () => {
  const fixture = manifest.cases.find((c) => c.name === 'grid-10x18-b2')!;
  const model = loadedModel(fixture.model);
  using input = readTensor(fixture.input, fixture.inputShape);
  using viaAsync = await model.forwardAsync(input);
  using viaSync = model.forward(input);
  expect(viaAsync.toFloat32Array()).toEqual(viaSync.toFloat32Array());
  expect(errorAgainst(viaAsync, fixture.output, fixture.outputShape)).toBeLessThanOrEqual(PARITY_TOLERANCE);
});

test('the checkpoint loads tensor for tensor (bit-exact)', () => {
  const fixture = manifest.cases.find((c) => c.name === 'small-b1')!;
  const model = loadedModel(fixture.model);
  // Training mode must not change the eval-mode numbers of a later eval(): dropout only acts while training.
  model.train();
  expect(model.training).toBe(true);
  model.eval();
  using input = readTensor(fixture.input, fixture.inputShape);
  using output = model.forward(input);
  expect(errorAgainst(output, fixture.output, fixture.outputShape)).toBeLessThanOrEqual(PARITY_TOLERANCE);
});
