// What inference costs the rest of the process's asynchronous work: sharp decoding images (on libuv's thread pool,
// which fs and zlib share too) while a loop of forwardAsync keeps a small model busy. Prints, as medians over the
// runs: decoding alone, decoding while inference runs, and the inference rate alone and while decoding.
//
//   npm run bench:pool [-- --images 300 --seconds 3 --runs 5 --in-flight 2 --models 1 --side 96 --decoders 8]
//
// Each run decodes the same `images` small JPEGs and PNGs (made by sharp itself, half each) over and over for
// `seconds`, with `decoders` decodes in flight, and counts the forwards that completed meanwhile: `models` small
// ViTs (width 192, 3 heads, depth 4, 224x224, batch 1), each with `in-flight` forwardAsync calls outstanding at all
// times. Then the same inference runs alone for as long.
import sharp from 'sharp';
import { tensor, Tensor, VisionTransformer } from '../lib';
import { integerFlag, parseArgs, runMain, UsageError } from './run-main';
import { median } from './stats';

interface Options {
  images: number;
  seconds: number;
  runs: number;
  inFlight: number;
  models: number;
  side: number;
  decoders: number;
}

function parseOptions(argv: string[]): Options {
  const flags = ['images', 'seconds', 'runs', 'in-flight', 'models', 'side', 'decoders'];
  const parsed = parseArgs(argv, flags, [], { overrides: false });
  if (parsed.positional.length) throw new UsageError(`expected no arguments, received '${parsed.positional[0]}'`);
  return {
    images: integerFlag(parsed, 'images') ?? 300,
    seconds: integerFlag(parsed, 'seconds') ?? 3,
    runs: integerFlag(parsed, 'runs') ?? 5,
    inFlight: integerFlag(parsed, 'in-flight') ?? 2,
    models: integerFlag(parsed, 'models') ?? 1,
    side: integerFlag(parsed, 'side') ?? 96,
    decoders: integerFlag(parsed, 'decoders') ?? 8,
  };
}

async function makeImages(count: number, side: number): Promise<Buffer[]> {
  const images: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const noise = sharp({
      create: {
        width: side,
        height: side,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    });
    images.push(await (i % 2 === 0 ? noise.jpeg({ quality: 90 }) : noise.png()).toBuffer());
  }
  return images;
}

/** Decodes the images round and round, `decoders` at a time, for `seconds`; answers images per second. */
async function decodeFor(images: Buffer[], decoders: number, seconds: number): Promise<number> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const image = images[next++ % images.length];
      await sharp(image).raw().toBuffer();
    }
  };
  await Promise.all(Array.from({ length: decoders }, worker));
  return next / ((performance.now() - started) / 1000);
}

/** Keeps `inFlight` forwards outstanding on each model until stop() is called; counts the ones that completed. */
function inferenceLoop(models: VisionTransformer[], input: Tensor, inFlight: number) {
  let running = true;
  let completed = 0;
  const loop = async (model: VisionTransformer) => {
    while (running) {
      using logits = await model.forwardAsync(input);
      if (logits.shape[0] !== 1) throw new Error('unexpected logits');
      completed++;
    }
  };
  const loops = models.flatMap((model) => Array.from({ length: inFlight }, () => loop(model)));
  const started = performance.now();
  return {
    async stop(): Promise<number> {
      const seconds = (performance.now() - started) / 1000;
      const count = completed;
      running = false;
      await Promise.all(loops);
      return count / seconds;
    },
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const images = await makeImages(options.images, options.side);
  const models = Array.from({ length: options.models }, () =>
    new VisionTransformer({
      inputShape: [224, 224],
      numFeatures: 192,
      numHeads: 3,
      depth: 4,
      numClasses: 10,
    }).eval(),
  );
  using input = tensor(new Float32Array(3 * 224 * 224).fill(0.5), [1, 3, 224, 224]);
  // Warm both up: the first decodes and the first forwards allocate what later ones reuse.
  await decodeFor(images, options.decoders, 0.5);
  for (const model of models) (await model.forwardAsync(input)).dispose();

  const alone: number[] = [];
  const shared: number[] = [];
  const inferenceAlone: number[] = [];
  const inferenceShared: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    alone.push(await decodeFor(images, options.decoders, options.seconds));
    const busy = inferenceLoop(models, input, options.inFlight);
    shared.push(await decodeFor(images, options.decoders, options.seconds));
    inferenceShared.push(await busy.stop());
    const quiet = inferenceLoop(models, input, options.inFlight);
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
    inferenceAlone.push(await quiet.stop());
  }
  for (const model of models) model.dispose();

  const f = (n: number) => n.toFixed(1);
  console.log(
    `sharp decode (${options.images} ${options.side}x${options.side} JPEG/PNG, ${options.decoders} in flight, ` +
      `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 'default'}), ${options.runs} runs of ${options.seconds} s, ` +
      'medians:',
  );
  console.log(`  decode alone:              ${f(median(alone))} images/s`);
  console.log(`  decode during inference:   ${f(median(shared))} images/s`);
  console.log(
    `  inference alone:           ${f(median(inferenceAlone))} forwards/s ` +
      `(${options.models} model(s) x ${options.inFlight} in flight)`,
  );
  console.log(`  inference during decoding: ${f(median(inferenceShared))} forwards/s`);
}

runMain('pool', main);
