// vit() mirrors the seed's factory: ViT-B/16 for inputShape, the checkpoint loaded strictly, then a fresh head
// for another class count. PyTorch's features for the same call are the oracle for the backbone.
import { loadCheckpoint, StateDictError, vit, vitAsync } from '../lib';
import { errorAgainst, fixturePath, manifest, PARITY_TOLERANCE, readTensor } from './fixtures';

const factory = manifest.vitFactory;

test('vit() loads the checkpoint into the backbone and replaces the head', () => {
  using model = vit({
    inputShape: factory.inputShape,
    pretrained: fixturePath(factory.checkpoint),
    numClasses: factory.numClasses,
  });
  model.eval();
  const parameters = new Map(model.namedParameters());
  expect(parameters.get('head.weight')!.shape).toEqual(factory.headWeightShape);
  expect(parameters.get('head.bias')!.shape).toEqual(factory.headBiasShape);

  using images = readTensor(factory.input, factory.imagesShape);
  using features = model.forwardFeatures(images);
  expect(errorAgainst(features, factory.features, factory.featuresShape)).toBeLessThanOrEqual(PARITY_TOLERANCE);
  using logits = model.forward(images);
  expect(logits.shape).toEqual([factory.imagesShape[0], factory.numClasses]);
});

test('vit() keeps the checkpoint head when numClasses is 1000', () => {
  using model = vit({ pretrained: fixturePath(factory.checkpoint) });
  const checkpoint = loadCheckpoint(fixturePath(factory.checkpoint));
  const head = new Map(model.namedParameters()).get('head.weight')!;
  expect(head.toFloat32Array()).toEqual(checkpoint.get('head.weight')!.toFloat32Array());
  for (const value of checkpoint.values()) value.dispose();
});

test('vitAsync() builds the same model off the event loop', async () => {
  using model = await vitAsync({
    inputShape: factory.inputShape,
    pretrained: fixturePath(factory.checkpoint),
    numClasses: 7,
  });
  model.eval();
  using images = readTensor(factory.input, factory.imagesShape);
  using features = model.forwardFeatures(images);
  expect(errorAgainst(features, factory.features, factory.featuresShape)).toBeLessThanOrEqual(PARITY_TOLERANCE);
});

test('vit() loads strictly: a small checkpoint does not fit ViT-B/16', () => {
  expect(() => vit({ pretrained: fixturePath(manifest.models.small.checkpoint) })).toThrow(StateDictError);
});
