// The demo: vitorch's embedded default model, a ViT that vitorch trained on Fashion-MNIST on a 2-core CPU, classifies
// the real Fashion-MNIST test images shipped beside it (PNG files decoded and preprocessed by sharp, one batched
// forward pass off the event loop) and prints each image's top-3 next to its true label. No download, no Python.
//
//   npm run demo
import * as os from 'os';
import * as path from 'path';
import { defaultClassifier, defaultModelImages, libtorchVersion } from '../lib';

async function main(): Promise<void> {
  console.log(`vitorch on libtorch ${libtorchVersion}, ${os.availableParallelism()} intra-op threads`);
  let started = performance.now();
  using classifier = await defaultClassifier();
  const { model } = classifier;
  console.log(
    `embedded model: ViT patch ${model.options.patchSize}, ${model.options.numFeatures} features, depth ` +
      `${model.options.depth}, ${model.parameterCount.toLocaleString()} parameters, loaded in ${(performance.now() - started).toFixed(0)} ms`,
  );

  const images = defaultModelImages();
  let heartbeats = 0;
  const heartbeat = setInterval(() => heartbeats++, 1);
  started = performance.now();
  const predictions = await classifier.classify(
    images.map((image) => image.file),
    3,
  );
  const elapsed = performance.now() - started;
  clearInterval(heartbeat);

  let correct = 0;
  for (const [i, image] of images.entries()) {
    const [best] = predictions[i];
    const ok = best.label === image.label;
    if (ok) correct++;
    const top = predictions[i].map((p) => `${p.label} ${(p.probability * 100).toFixed(1)}%`).join(', ');
    console.log(
      `  ${ok ? 'ok   ' : 'WRONG'} ${path.basename(image.file).padEnd(14)} true: ${image.label.padEnd(12)} predicted: ${top}`,
    );
  }
  console.log(
    `${correct}/${images.length} correct; decoding and classifying took ${elapsed.toFixed(0)} ms, during which ` +
      `the event loop ran a 1 ms timer ${heartbeats} times`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
