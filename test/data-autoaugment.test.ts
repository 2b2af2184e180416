// The seed's AutoAugment ImageNet policy against PIL (tools/make_autoaugment_fixtures.py, which restates the seed's
// operations with PIL; tools/check_autoaugment_against_seed.py compares it with the seed's own utils_aug.py, which
// it matches byte for byte). Inputs: four real Fashion-MNIST test images (grey, made RGB as the seed's cvtColor does)
// and five generated RGB images (noisy gradients with an edge, low contrast, constant, 2x2).
//
// Every operation is asserted byte for byte equal to PIL's, at every magnitude bin and both signs: the ops are
// written in PIL's own arithmetic (its lookup tables; float32 blends with truncation; the 16.16 fixed-point
// nearest-neighbour walk of its rotate; the double-precision a = -1 cubic of its affine transform), so any difference
// is a bug, not a resampling nuance. The policy table is checked against the reference's (probabilities, bins and
// magnitudes as numpy's linspace makes them), each sub-policy's composition against PIL under forced choices, and
// the random choices statistically (each draw's frequency within 5 standard errors of its probability). In the
// pipelines (IDX and sharp), the policy must run last, on the cropped and flipped bytes, drawing from the sample's
// stream after the crop and flip; the crops there come from numpy's padding and from the pipeline without the policy.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { datasetFrom } from '../lib/cli/datasets';
import { ConfigError, loadTrainConfig, trainingData } from '../lib/cli/train-config';
import { IMAGENET_POLICY, applyAutoAugment, applyOp, autoAugment, drawAutoAugment } from '../lib/data/auto-augment';
import type { AutoAugmentOp } from '../lib/data/auto-augment';
import type { Uint8Image } from '../lib/data/autoaugment-ops';
import { randomResizedCropBox } from '../lib/data/geometry';
import { idxDataset } from '../lib/data/idx';
import { Preprocessor } from '../lib/data/preprocess';
import { forKey } from '../lib/data/random';
import { drawUint8Choice, requireUint8Augmentation } from '../lib/data/uint8-augment';
import { FASHION, dataManifest, fixture, ensureGenerated } from './data-fixtures';
import { expectThrows } from './expect-error';
import { TINY_VIT } from './train-cli-fixtures';

const FIXTURES = path.join(__dirname, 'fixtures', 'generated', 'autoaugment');
ensureGenerated('make_autoaugment_fixtures.py', FIXTURES);

interface Manifest {
  images: { name: string; input: string; width: number; height: number; channels: 1 | 3 }[];
  policy: { p: number[]; op: AutoAugmentOp[]; index: number[]; magnitude: number[]; signed: boolean[] }[];
  ops: { image: string; op: AutoAugmentOp; index: number | null; magnitude: number; sign: 1 | -1; offset: number }[];
  subPolicies: { image: string; policy: number; apply: [boolean, boolean]; sign: [1 | -1, 1 | -1]; offset: number }[];
}
const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

const bytes = (file: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(FIXTURES, file)));
const images = new Map(
  manifest.images.map((m) => [
    m.name,
    {
      image: { data: bytes(m.input), width: m.width, height: m.height, channels: m.channels } as Uint8Image,
      ops: bytes(`${m.name}.ops.u8`),
      policies: bytes(`${m.name}.policy.u8`),
    },
  ]),
);

/** Positions where `actual` and PIL's bytes at `offset` differ, as "index: ours vs PIL's". */
function differences(actual: Uint8Image, reference: Uint8Array, offset: number): string[] {
  const expected = reference.subarray(offset, offset + actual.data.length);
  const out: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (actual.data[i] !== expected[i]) out.push(`${i}: ${actual.data[i]} vs ${expected[i]}`);
  }
  return out;
}

describe("each operation equals PIL's bytes", () => {
  const groups = new Map<string, Manifest['ops']>();
  for (const c of manifest.ops) {
    const key = `${c.op} on ${c.image}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(c);
  }
  test.each([...groups.keys()])('%s', (key) => {
    const failures: string[] = [];
    for (const c of groups.get(key)!) {
      const { image, ops } = images.get(c.image)!;
      const before = Buffer.from(image.data);
      const result = applyOp(image, c.op, c.magnitude, c.sign);
      if (!before.equals(image.data)) failures.push(`bin ${c.index}: the input was changed`);
      if (
        result.width !== image.width ||
        result.height !== image.height ||
        result.channels !== image.channels ||
        result.data.length !== image.data.length
      )
        failures.push(`bin ${c.index}: the output has another shape`);
      const diff = differences(result, ops, c.offset);
      if (diff.length > 0)
        failures.push(
          `bin ${c.index} (${c.magnitude}) sign ${c.sign}: ${diff.length} bytes differ, e.g. ${diff.slice(0, 3).join(', ')}`,
        );
    }
    expect(failures).toEqual([]);
  });
});

describe('the policy', () => {
  test("the table is the seed's: 25 sub-policies, probabilities, bins and numpy's magnitudes", () => {
    expect(IMAGENET_POLICY.length).toBe(manifest.policy.length);
    expect(manifest.policy.length).toBe(25);
    const ours = IMAGENET_POLICY.map((steps) => ({
      p: steps.map((s) => s.p),
      op: steps.map((s) => s.op),
      index: steps.map((s) => s.index),
      magnitude: steps.map((s) => s.magnitude),
      signed: steps.map((s) => s.signed),
    }));
    // Exact: the magnitudes are the same float64 values numpy.linspace computes (start + k * step, last bin = stop).
    expect(ours).toEqual(manifest.policy);
  });

  test('every sub-policy under forced choices equals PIL applying the same two operations', () => {
    const failures: string[] = [];
    for (const c of manifest.subPolicies) {
      const { image, policies } = images.get(c.image)!;
      const result = applyAutoAugment(image, { policy: c.policy, apply: c.apply, sign: c.sign });
      const diff = differences(result, policies, c.offset);
      if (diff.length > 0)
        failures.push(`${c.image} sub-policy ${c.policy} apply ${c.apply} sign ${c.sign}: ${diff.length} bytes differ`);
    }
    expect(failures).toEqual([]);
  });

  test('choices follow the probabilities: uniform sub-policy, each operation with its p, signs half and half', () => {
    const draws = 50000;
    const chosen = new Array<number>(25).fill(0);
    const applied = IMAGENET_POLICY.map(() => [0, 0]);
    const negative = IMAGENET_POLICY.map(() => [0, 0]);
    for (let i = 0; i < draws; i++) {
      const choice = drawAutoAugment(forKey(3, i));
      chosen[choice.policy]++;
      choice.apply.forEach((a, k) => {
        if (a) applied[choice.policy][k]++;
        if (choice.sign[k] === -1) negative[choice.policy][k]++;
        // A sign is drawn only for an operation that runs and has a signed magnitude.
        if (choice.sign[k] === -1 && !(a && IMAGENET_POLICY[choice.policy][k].signed))
          throw new Error('sign without a signed op');
      });
    }
    const within = (count: number, n: number, p: number): boolean =>
      Math.abs(count - n * p) <= 5 * Math.sqrt(n * p * (1 - p)) + 1e-9;
    chosen.forEach((count) => expect(within(count, draws, 1 / 25)).toBe(true));
    IMAGENET_POLICY.forEach((steps, j) =>
      steps.forEach((s, k) => {
        expect(within(applied[j][k], chosen[j], s.p)).toBe(true);
        if (s.signed) expect(within(negative[j][k], applied[j][k], 0.5)).toBe(true);
      }),
    );
    // p = 1 always runs and p = 0 never does (random() < p, as the seed tests it).
    expect(applied[13][1]).toBe(chosen[13]);
    expect(applied[12][0]).toBe(0);
  });

  test('seeded: the same stream gives the same image, other streams other images', () => {
    for (const name of ['fashion-0', 'rgb-37x29']) {
      const { image } = images.get(name)!;
      const outputs = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const a = autoAugment(image, forKey(9, 1, i));
        const b = autoAugment(image, forKey(9, 1, i));
        expect(Buffer.from(a.data).equals(b.data)).toBe(true);
        outputs.add(Buffer.from(a.data).toString('base64'));
      }
      // 40 draws from 25 sub-policies with several ops each: many distinct results (at least a quarter of them).
      expect(outputs.size).toBeGreaterThan(10);
    }
  });

  test('bad choices are refused with the expected range', () => {
    const { image } = images.get('rgb-2x2')!;
    expectThrows(
      () => applyAutoAugment(image, { policy: 25, apply: [true, true], sign: [1, 1] }),
      RangeError,
      'expected a sub-policy index in [0, 24] for policy, received number 25',
    );
    expect(() => applyOp(image, 'blur' as AutoAugmentOp, 1)).toThrow(RangeError);
  });
});

/** Normalised floats (mean 0, std 1: v / 255) back to bytes, CHW to HWC. */
function toBytes(floats: Float32Array, width: number, height: number, channels: 1 | 3): Uint8Image {
  const plane = width * height;
  const data = new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) data[i * channels + c] = Math.round(floats[c * plane + i] * 255);
  }
  return { data, width, height, channels };
}

function mirrored(image: Uint8Image): Uint8Image {
  const { width: w, height: h, channels: c } = image;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) data[(y * w + x) * c + k] = image.data[(y * w + (w - 1 - x)) * c + k];
    }
  }
  return { ...image, data };
}

describe('in the data pipeline', () => {
  const images = path.join(FASHION, 't10k-images-idx3-ubyte.gz');
  const labels = path.join(FASHION, 't10k-labels-idx1-ubyte.gz');

  test("IDX: the policy runs on numpy's padded crop after the flip, its choices drawn next from the same stream", async () => {
    const data = dataManifest();
    const padded = fs.readFileSync(fixture(data.padded.file));
    const options = { cropPadding: 4, autoAugment: true };
    const augmentation = requireUint8Augmentation(options);
    for (const channels of [1, 3] as const) {
      const ds = await idxDataset({ images, labels, channels, augmentation: options });
      let orderShows = 0;
      for (let trial = 0; trial < 6; trial++) {
        const indices = Array.from({ length: 16 }, (_, i) => i);
        const loaded = ds.loadSync(
          indices,
          indices.map((i) => forKey(trial, 0, i)),
        );
        for (let k = 0; k < 16; k++) {
          const stream = forKey(trial, 0, k);
          const { top, left, flip } = drawUint8Choice(stream, augmentation);
          const crop = (mirror: boolean): Uint8Image => {
            const out = new Uint8Array(784);
            for (let p = 0; p < 784; p++) {
              const x = mirror ? 27 - (p % 28) : p % 28;
              out[p] = padded[k * 36 * 36 + (top + Math.floor(p / 28)) * 36 + left + x];
            }
            return { data: out, width: 28, height: 28, channels: 1 };
          };
          const choice = drawAutoAugment(stream);
          const expected = applyAutoAugment(crop(flip), choice);
          const got = toBytes(loaded.images.subarray(k * channels * 784, (k + 1) * channels * 784), 28, 28, channels);
          for (let c = 0; c < channels; c++) {
            for (let p = 0; p < 784; p++) {
              if (got.data[p * channels + c] !== expected.data[p])
                throw new Error(`trial ${trial} sample ${k}: channel ${c} byte ${p} differs`);
            }
          }
          // The policy before the flip would have given other bytes here.
          if (flip && !Buffer.from(mirrored(applyAutoAugment(crop(false), choice)).data).equals(expected.data))
            orderShows++;
        }
      }
      expect(orderShows).toBeGreaterThan(0);
    }
  });

  test("image files: the policy runs on sharp's crop after the flip, its choices drawn after the crop's and flip's", async () => {
    const source = fixture('images/rgb-300x200.png');
    for (const channels of [3, 1] as const) {
      const normalisation = { size: 32, channels, mean: [0], std: [1] };
      const withPolicy = new Preprocessor({ ...normalisation, augmentation: { autoAugment: true } });
      const without = new Preprocessor(normalisation);
      let orderShows = 0;
      for (let s = 0; s < 24; s++) {
        const got = toBytes(await withPolicy.augment(source, forKey(5, s)), 32, 32, channels);
        // The same crop and flip without the policy (the flip is applied there when the stream says so).
        const flipped = toBytes(await without.augment(source, forKey(5, s)), 32, 32, channels);
        const stream = forKey(5, s);
        randomResizedCropBox(300, 200, stream);
        const flip = stream.float() < 0.5;
        const choice = drawAutoAugment(stream);
        const expected = applyAutoAugment(flipped, choice);
        expect(Buffer.from(got.data).equals(expected.data)).toBe(true);
        if (flip && !Buffer.from(mirrored(applyAutoAugment(mirrored(flipped), choice)).data).equals(expected.data))
          orderShows++;
      }
      expect(orderShows).toBeGreaterThan(0);
    }
  });

  test('config: augment.autoAugment is off by default, checked, and reaches the IDX dataset', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-autoaugment-'));
    try {
      const file = path.join(dir, 'config.json');
      const write = (augment: unknown): void =>
        fs.writeFileSync(
          file,
          JSON.stringify({
            model: TINY_VIT,
            classes: Array.from({ length: 10 }, (_, i) => `c${i}`),
            data: { train: { format: 'idx', images, labels } },
            preprocess: { mean: [0], std: [1] },
            ...(augment === undefined ? {} : { augment }),
          }),
        );
      write(undefined);
      expect((await loadTrainConfig(file)).augment.autoAugment).toBe(false);
      write({ autoAugment: 'imagenet' });
      await expect(loadTrainConfig(file)).rejects.toThrow(
        new ConfigError(file, "expected true or false for augment.autoAugment, received the string 'imagenet'"),
      );
      write({ autoAugment: true, cropPadding: 2 });
      const config = await loadTrainConfig(file);
      expect(config.augment.autoAugment).toBe(true);
      const dataset = await datasetFrom(trainingData(config, file), config.preprocess, config.augment, config.classes);
      const reference = await idxDataset({ images, labels, augmentation: { cropPadding: 2, autoAugment: true } });
      const plain = await idxDataset({ images, labels, augmentation: { cropPadding: 2 } });
      const indices = Array.from({ length: 64 }, (_, i) => i);
      const streams = (): ReturnType<typeof forKey>[] => indices.map((i) => forKey(1, 0, i));
      const a = (await dataset.load(indices, streams())).images;
      expect(Buffer.from(a.buffer).equals(Buffer.from((await reference.load(indices, streams())).images.buffer))).toBe(
        true,
      );
      expect(Buffer.from(a.buffer).equals(Buffer.from((await plain.load(indices, streams())).images.buffer))).toBe(
        false,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
