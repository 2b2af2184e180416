// The embedded default model (assets/fashion-mnist): its weights load strictly into the seed's model in PyTorch, and
// vitorch's classifier (sharp decoding, the config's preprocessing, a forward off the event loop) gives PyTorch's
// probabilities for the real test images shipped beside it, and their true labels.
import { defaultClassifier, defaultModelImages } from '../lib';
import { embeddedModelReference } from './python';

const PROBABILITY_TOLERANCE = 1e-4;

test('the embedded model classifies its shipped images as PyTorch does, and correctly', async () => {
  const images = defaultModelImages();
  expect(images.length).toBeGreaterThanOrEqual(10);
  const reference = embeddedModelReference<{ probabilities: number[][] }>(images.map((i) => i.file)).probabilities;

  using classifier = await defaultClassifier();
  const classes = classifier.classes.length;
  const predictions = await classifier.classify(
    images.map((i) => i.file),
    classes,
  );
  predictions.forEach((top, i) => {
    for (const p of top) expect(Math.abs(p.probability - reference[i][p.index])).toBeLessThan(PROBABILITY_TOLERANCE);
    const best = reference[i].indexOf(Math.max(...reference[i]));
    expect(top[0].index).toBe(best);
    expect(top[0].label).toBe(images[i].label);
  });
});
