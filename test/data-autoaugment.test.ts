// The seed's AutoAugment ImageNet policy against PIL (tools/make_autoaugment_fixtures.py, which restates the seed's
// operations with PIL and was checked once against the seed's own utils_aug.py). Inputs: four real Fashion-MNIST
// test images (grey, made RGB as the seed's cvtColor does) and five generated RGB images (noisy gradients with an
// edge, low contrast, constant, 2x2).
//
// Every operation is asserted byte for byte equal to PIL's, at every magnitude bin and both signs: the ops are
// written in PIL's own arithmetic (its lookup tables; float32 blends with truncation; the 16.16 fixed-point
// nearest-neighbour walk of its rotate; the double-precision a = -1 cubic of its affine transform), so any difference
// is a bug, not a resampling nuance. The policy table is checked against the reference's (probabilities, bins and
// magnitudes as numpy's linspace makes them), each sub-policy's composition against PIL under forced choices, and
// the random choices statistically (each draw's frequency within 5 standard errors of its probability).
import * as fs from 'fs';
import * as path from 'path';
import { IMAGENET_POLICY, applyAutoAugment, applyOp, autoAugment, drawAutoAugment } from '../lib/data/auto-augment';
import type { AutoAugmentOp } from '../lib/data/auto-augment';
import type { Uint8Image } from '../lib/data/autoaugment-ops';
import { forKey } from '../lib/data/random';
import { ensureGenerated } from './data-fixtures';

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
const images = new Map(manifest.images.map((m) => [m.name, {
  image: { data: bytes(m.input), width: m.width, height: m.height, channels: m.channels } as Uint8Image,
  ops: bytes(`${m.name}.ops.u8`),
  policies: bytes(`${m.name}.policy.u8`),
}]));

/** Positions where `actual` and PIL's bytes at `offset` differ, as "index: ours vs PIL's". */
function differences(actual: Uint8Image, reference: Uint8Array, offset: number): string[] {
  const expected = reference.subarray(offset, offset + actual.data.length);
  const out: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (actual.data[i] !== expected[i]) out.push(`${i}: ${actual.data[i]} vs ${expected[i]}`);
  }
  return out;
}

describe('each operation equals PIL\'s bytes', () => {
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
      if (result.width !== image.width || result.height !== image.height || result.channels !== image.channels
        || result.data.length !== image.data.length) failures.push(`bin ${c.index}: the output has another shape`);
      const diff = differences(result, ops, c.offset);
      if (diff.length > 0) failures.push(`bin ${c.index} (${c.magnitude}) sign ${c.sign}: ${diff.length} bytes differ, e.g. ${diff.slice(0, 3).join(', ')}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('the policy', () => {
  test('the table is the seed\'s: 25 sub-policies, probabilities, bins and numpy\'s magnitudes', () => {
    expect(IMAGENET_POLICY.length).toBe(manifest.policy.length);
    expect(manifest.policy.length).toBe(25);
    const ours = IMAGENET_POLICY.map((steps) => ({
      p: steps.map((s) => s.p), op: steps.map((s) => s.op), index: steps.map((s) => s.index),
      magnitude: steps.map((s) => s.magnitude), signed: steps.map((s) => s.signed),
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
      if (diff.length > 0) failures.push(`${c.image} sub-policy ${c.policy} apply ${c.apply} sign ${c.sign}: ${diff.length} bytes differ`);
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
        if (choice.sign[k] === -1 && !(a && IMAGENET_POLICY[choice.policy][k].signed)) throw new Error('sign without a signed op');
      });
    }
    const within = (count: number, n: number, p: number): boolean => Math.abs(count - n * p) <= 5 * Math.sqrt(n * p * (1 - p)) + 1e-9;
    chosen.forEach((count) => expect(within(count, draws, 1 / 25)).toBe(true));
    IMAGENET_POLICY.forEach((steps, j) => steps.forEach((s, k) => {
      expect(within(applied[j][k], chosen[j], s.p)).toBe(true);
      if (s.signed) expect(within(negative[j][k], applied[j][k], 0.5)).toBe(true);
    }));
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
    expect(() => applyAutoAugment(image, { policy: 25, apply: [true, true], sign: [1, 1] }))
      .toThrow(new RangeError('expected a sub-policy index in [0, 24] for policy, received number 25'));
    expect(() => applyOp(image, 'blur' as AutoAugmentOp, 1)).toThrow(RangeError);
  });
});
