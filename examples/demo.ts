// The demo: the seed's vit() in Node. Loads model_data/vit-patch_16.pth, classifies a batch of Fashion-MNIST
// images (Debian's dataset-fashion-mnist, if installed; synthetic images otherwise) with forwardAsync, and shows
// that the event loop kept running meanwhile.
//
//   npm run demo        (writes a stand-in checkpoint first when model_data/vit-patch_16.pth is missing)
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { libtorchVersion, setNumThreads, tensor, vitAsync } from '../lib';

const CHECKPOINT = path.join(process.cwd(), 'model_data', 'vit-patch_16.pth');
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
const FASHION_LABELS = '/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz';
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const BATCH = 8;
const SIDE = 224;

interface Images { pixels: Float32Array; labels: string[]; source: string }

// 28x28 grey images -> [N, 3, 224, 224], nearest-neighbour upscaled, scaled to [-1, 1].
function fashionMnist(count: number): Images | null {
  if (!fs.existsSync(FASHION_MNIST)) return null;
  const images = zlib.gunzipSync(fs.readFileSync(FASHION_MNIST));
  const labels = fs.existsSync(FASHION_LABELS) ? zlib.gunzipSync(fs.readFileSync(FASHION_LABELS)) : null;
  const pixels = new Float32Array(count * 3 * SIDE * SIDE);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const grey = images[16 + n * 784 + Math.floor(y / 8) * 28 + Math.floor(x / 8)] / 127.5 - 1;
        for (let c = 0; c < 3; c++) pixels[((n * 3 + c) * SIDE + y) * SIDE + x] = grey;
      }
    }
  }
  const names = Array.from({ length: count }, (_, n) => (labels ? CLASS_NAMES[labels[8 + n]] : '?'));
  return { pixels, labels: names, source: 'Fashion-MNIST test set' };
}

function syntheticImages(count: number): Images {
  const pixels = new Float32Array(count * 3 * SIDE * SIDE).map((_, i) => Math.sin(i / 997) * 0.5);
  return { pixels, labels: Array(count).fill('synthetic'), source: 'synthetic images (install dataset-fashion-mnist for real ones)' };
}

function top(logits: Float32Array, row: number, classes: number, k: number): string {
  const scores = Array.from(logits.subarray(row * classes, (row + 1) * classes));
  return scores.map((score, index) => ({ score, index })).sort((a, b) => b.score - a.score).slice(0, k)
    .map(({ score, index }) => `#${index} (${score.toFixed(2)})`).join(', ');
}

async function main(): Promise<void> {
  setNumThreads(os.availableParallelism());
  console.log(`vitorch on libtorch ${libtorchVersion}, ${os.availableParallelism()} intra-op threads`);

  let started = performance.now();
  const model = await vitAsync({ inputShape: [SIDE, SIDE], pretrained: CHECKPOINT, numClasses: 1000 });
  model.eval();
  console.log(`loaded ${path.relative(process.cwd(), CHECKPOINT)}: ${model.parameterCount.toLocaleString()} parameters in ` +
    `${(performance.now() - started).toFixed(0)} ms`);

  const images = fashionMnist(BATCH) ?? syntheticImages(BATCH);
  using batch = tensor(images.pixels, [BATCH, 3, SIDE, SIDE]);
  console.log(`input: ${BATCH} ${images.source}, ${batch}`);

  using warmup = await model.forwardAsync(batch); // first call allocates kernels' workspaces
  let heartbeats = 0;
  const heartbeat = setInterval(() => heartbeats++, 10);
  started = performance.now();
  using logits = await model.forwardAsync(batch);
  const elapsed = performance.now() - started;
  clearInterval(heartbeat);

  console.log(`forwardAsync: ${elapsed.toFixed(0)} ms for ${BATCH} images (${(BATCH / elapsed * 1000).toFixed(2)} images/s); ` +
    `the event loop ran a 10 ms timer ${heartbeats} times meanwhile`);
  const values = logits.toFloat32Array();
  for (let n = 0; n < Math.min(BATCH, 4); n++) {
    console.log(`  image ${n} (${images.labels[n]}): top-3 ImageNet classes ${top(values, n, 1000, 3)}`);
  }
  model.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
