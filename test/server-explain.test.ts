// /v1/classify?explain=1 (lib/server/classify-route.ts): the answer's explanation is a PNG of the uploaded image with
// the heatmap, and its grid is the model's own attentionRollout of the same preprocessed input. Also /v1/models, which
// the page reads, and the refusal of images for a model whose preprocessing cannot make its inputs.
import * as fs from 'fs';
import sharp from 'sharp';
import { Classifier, defaultClassifier, defaultModelImages, preprocessorFor, tensor } from '../lib';
import { request, startServer } from './server-fixtures';
import type { RunningServer } from './server-fixtures';

let server: RunningServer;
let classifier: Classifier;

beforeAll(async () => {
  [server, classifier] = await Promise.all([startServer(), defaultClassifier()]);
});
afterAll(async () => {
  await server.close();
  classifier.dispose();
});

test("explain=1 adds a PNG and the model's rollout grid of the preprocessed image", async () => {
  const image = defaultModelImages()[1];
  const bytes = fs.readFileSync(image.file);
  const plain = await request(`${server.url}/v1/classify`, { body: bytes });
  const answer = await request(`${server.url}/v1/classify?explain=1`, { body: bytes });
  expect(answer.status).toBe(200);
  const body = answer.json();
  expect(body.top).toEqual(plain.json().top);
  expect(plain.json().explanation).toBeUndefined();
  const { png, grid, ...rest } = body.explanation;
  expect(rest).toEqual({ gridH: 7, gridW: 7, headFusion: 'mean', discardRatio: 0.9 });
  const picture = Buffer.from(png, 'base64');
  expect(picture.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const meta = await sharp(picture).metadata();
  expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({
    format: 'png',
    width: 224,
    height: 224,
  });

  const pixels = await classifier.preprocessor.evaluate({ bytes, name: 'the image' });
  using x = tensor(pixels, [1, 1, 28, 28]);
  using rollout = classifier.model.attentionRollout(x);
  const expected = rollout.toFloat32Array();
  expect(grid).toHaveLength(7);
  const flat = (grid as number[][]).flat();
  expect(flat).toHaveLength(49);
  flat.forEach((value, i) => expect(Math.abs(value - expected[i])).toBeLessThan(1e-6));
});

test('explain takes 1, true, 0 or false', async () => {
  const bytes = fs.readFileSync(defaultModelImages()[0].file);
  expect((await request(`${server.url}/v1/classify?explain=0`, { body: bytes })).json().explanation).toBeUndefined();
  const bad = await request(`${server.url}/v1/classify?explain=yes`, { body: bytes });
  expect(bad.status).toBe(400);
  expect(bad.json()).toEqual({ error: "expected 1, true, 0 or false for explain, received the string 'yes'" });
});

test('/v1/models says what the page needs: phase, models, classes, input, grid and images', async () => {
  const answer = await request(`${server.url}/v1/models`);
  expect(answer.json()).toEqual({
    phase: 'ready',
    ready: true,
    default: 'vit',
    models: [{ name: 'vit', state: 'READY', classes: 10, input: [1, 28, 28], grid: [7, 7], images: true }],
  });
});

test('a model whose preprocessing cannot make its input is refused images, in words', async () => {
  const preprocessor = preprocessorFor({ model: {}, classes: [], preprocess: { size: [32, 32], channels: 3 } });
  const other = await startServer({ classifier: new Classifier(classifier.model, classifier.classes, preprocessor) });
  try {
    const answer = await request(`${other.url}/v1/classify`, { body: fs.readFileSync(defaultModelImages()[0].file) });
    expect(answer.status).toBe(400);
    const refusal =
      "model 'vit' takes inputs of shape [1, 28, 28] but its image preprocessing makes [3, 32, 32]: it takes " +
      'tensors only, at /v2/models/vit/infer';
    expect(answer.json()).toEqual({ error: refusal });
    expect((await request(`${other.url}/v1/models`)).json().models[0]).toMatchObject({ images: false, refusal });
  } finally {
    await other.close();
  }
});
