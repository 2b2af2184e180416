// POST /v1/classify over real HTTP: the embedded model's top-k for its shipped Fashion-MNIST PNGs equals PyTorch's
// softmax (tools/classify_reference.py) and a direct forward of the same preprocessed image; a colour JPEG of
// another size and a WebP go through the seed's resize and centre crop (or letterbox) exactly as the Preprocessor
// does; JSON {"image": base64} is the same request; wrong media types are 415, undecodable images 400.
import sharp from 'sharp';
import { defaultClassifier, defaultModelImages, Preprocessor, tensor } from '../lib';
import type { Classifier } from '../lib';
import { jsonBody, request, RunningServer, startServer } from './server-fixtures';
import * as fs from 'fs';
import { embeddedModelReference } from './python';

const PROBABILITY_TOLERANCE = 1e-4;
let server: RunningServer;
let classifier: Classifier;

beforeAll(async () => {
  classifier = await defaultClassifier();
  server = await startServer({ maxBatch: 8, maxDelayMs: 2 });
});
afterAll(async () => {
  await server.close();
  classifier.dispose();
});

const classify = (body: Buffer, contentType?: string, query = '') =>
  request(`${server.url}/v1/classify${query}`, { body, headers: contentType ? { 'Content-Type': contentType } : {} });

/** The top k of a direct forward of `image` preprocessed by `preprocessor`: probabilities by class index. */
async function directProbabilities(image: Buffer, preprocessor: Preprocessor): Promise<number[]> {
  const pixels = await preprocessor.evaluate({ bytes: image, name: 'test image' });
  using x = tensor(pixels, [1, ...preprocessor.sampleShape]);
  using logits = await classifier.model.forwardAsync(x);
  const row = Array.from(logits.toFloat32Array());
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function expectTop(
  top: { label: string; index: number; probability: number }[],
  probabilities: number[],
  k: number,
): void {
  expect(top).toHaveLength(k);
  const order = probabilities
    .map((p, i) => ({ p, i }))
    .sort((a, b) => b.p - a.p || a.i - b.i)
    .slice(0, k);
  expect(top.map((t) => t.index)).toEqual(order.map((o) => o.i));
  expect(top.map((t) => t.label)).toEqual(order.map((o) => classifier.classes[o.i]));
  top.forEach((t, j) => expect(Math.abs(t.probability - order[j].p)).toBeLessThan(PROBABILITY_TOLERANCE));
}

test("the shipped PNGs: PyTorch's probabilities and the true labels, sent concurrently", async () => {
  const images = defaultModelImages();
  const reference = embeddedModelReference<{ probabilities: number[][] }>(images.map((i) => i.file)).probabilities;
  const answers = await Promise.all(images.map((image) => classify(fs.readFileSync(image.file), 'image/png', '?k=10')));
  answers.forEach((answer, i) => {
    expect(answer.status).toBe(200);
    const body = answer.json();
    expect(body.model_name).toBe('vit');
    expectTop(body.top, reference[i], 10);
    expect(body.top[0].label).toBe(images[i].label);
  });
});

test('a colour JPEG of another size, a WebP, base64 JSON and letterbox: the direct forward of the same preprocessing', async () => {
  const raw = Buffer.alloc(61 * 45 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i % 7) * 11) & 255;
  const jpeg = await sharp(raw, { raw: { width: 61, height: 45, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const webp = await sharp(raw, { raw: { width: 61, height: 45, channels: 3 } })
    .webp({ lossless: true })
    .toBuffer();
  const centre = classifier.preprocessor;
  const letterbox = new Preprocessor({ size: [28, 28], channels: 1, mean: [0.286], std: [0.353], resize: 'letterbox' });

  const viaJpeg = await classify(jpeg, 'image/jpeg', '?k=3');
  expect(viaJpeg.status).toBe(200);
  expectTop(viaJpeg.json().top, await directProbabilities(jpeg, centre), 3);
  const viaWebp = await classify(webp, 'image/webp');
  expect(viaWebp.status).toBe(200);
  expectTop(viaWebp.json().top, await directProbabilities(webp, centre), 5);
  const viaJson = await classify(jsonBody({ image: jpeg.toString('base64'), k: 4 }), 'application/json');
  expect(viaJson.status).toBe(200);
  expectTop(viaJson.json().top, await directProbabilities(jpeg, centre), 4);
  // No Content-Type: the bytes are sniffed as an image.
  const bare = await classify(jpeg, undefined, '?k=2');
  expect(bare.json().top).toEqual(viaJpeg.json().top.slice(0, 2));
  const boxed = await classify(jpeg, 'image/jpeg', '?k=3&resize=letterbox');
  expect(boxed.status).toBe(200);
  expectTop(boxed.json().top, await directProbabilities(jpeg, letterbox), 3);
});

test('errors: 415 for another media type, 400 for what cannot be decoded or asked', async () => {
  const png = fs.readFileSync(defaultModelImages()[0].file);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each answer's JSON is held to its expected value as it came off the wire
  const cases: [string, Promise<{ status: number; json(): any }>, number, RegExp][] = [
    [
      'text',
      classify(Buffer.from('hello'), 'text/plain'),
      415,
      /expected an image \(image\/jpeg, image\/png, image\/webp\) or application\/json \{"image": base64\} for \/v1\/classify, received Content-Type 'text\/plain'/,
    ],
    [
      'multipart',
      classify(png, 'multipart/form-data; boundary=x'),
      415,
      /received Content-Type 'multipart\/form-data'/,
    ],
    [
      'not an image',
      classify(Buffer.from('GIF89a this is not really an image'), 'image/png'),
      400,
      /^the image: cannot decode image: /,
    ],
    ['truncated PNG', classify(png.subarray(0, 60), 'image/png'), 400, /^the image: cannot decode image: /],
    ['empty', classify(Buffer.alloc(0), 'image/png'), 400, /no image/],
    [
      'JSON without image',
      classify(jsonBody({ picture: 'abc' }), 'application/json'),
      400,
      /expected \{"image": "<base64>"\}/,
    ],
    ['JSON not base64', classify(jsonBody({ image: '***' }), 'application/json'), 400, /not base64/],
    ['bad JSON', classify(Buffer.from('{'), 'application/json'), 400, /not valid JSON/],
    [
      'k too large',
      classify(png, 'image/png', '?k=11'),
      400,
      /expected an integer in \[1, 10\] for k, received the string '11'/,
    ],
    ['k not a number', classify(png, 'image/png', '?k=two'), 400, /for k, received the string 'two'/],
    [
      'bad resize',
      classify(png, 'image/png', '?resize=stretch'),
      400,
      /expected 'center-crop' or 'letterbox' for resize/,
    ],
  ];
  for (const [what, answer, status, message] of cases) {
    const a = await answer;
    expect({ what, status: a.status, error: a.json().error }).toEqual({
      what,
      status,
      error: expect.stringMatching(message),
    });
  }
  const metrics = (await request(`${server.url}/metrics`)).body.toString();
  expect(metrics).toMatch(/^vitorch_preprocess_duration_seconds_count\{model="vit"\} [1-9]/m);
});
