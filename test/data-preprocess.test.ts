// sharp preprocessing against the seed's preprocessing done with PIL (tools/make_data_fixtures.py reimplements its
// resize, centre crop, letterbox and preprocess_input on PIL), on generated PNG and JPEG images.
// Tolerances, in grey levels of the 0-255 input (errors are compared after undoing the normalisation):
//   no resampling involved (crop only, letterbox at scale 1): exact, up to float32 rounding of the normalisation;
//   downscaling (libvips' and PIL's antialiased bilinear/bicubic kernels): max 4 levels, mean 0.5;
//   upscaling (libvips places samples slightly differently from PIL): max 6 levels, mean 2;
//   grey output (libvips' recomb vs PIL's integer luma): the same plus 1 level.
// Random resized crop: box statistics against torchvision's get_params over 20 000 draws, and its fallback exactly.
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from '../lib/data/errors';
import { centerCropGeometry, letterboxGeometry, randomResizedCropBox, roundHalfEven } from '../lib/data/geometry';
import { IMAGENET_MEAN, IMAGENET_STD, Preprocessor } from '../lib/data/preprocess';
import { forKey } from '../lib/data/random';
import { dataManifest, fixture, readF32, tempDir } from './data-fixtures';
import { expectRejects, expectThrows } from './expect-error';

const manifest = dataManifest();

function levelErrors(actual: Float32Array, expected: Float32Array, channels: number): { max: number; mean: number } {
  const plane = actual.length / channels;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const std = IMAGENET_STD[Math.floor(i / plane)];
    const e = Math.abs(actual[i] - expected[i]) * std * 255;
    max = Math.max(max, e);
    sum += e;
  }
  return { max, mean: sum / actual.length };
}

describe("evaluation preprocessing equals the seed's (PIL)", () => {
  test.each(manifest.images.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const pre = new Preprocessor({ size: c.size, resize: c.resize, channels: c.channels });
    expect(pre.sampleShape).toEqual(c.shape);
    const actual = await pre.evaluate(fixture(c.source));
    const expected = readF32(c.expected);
    expect(actual.length).toBe(expected.length);
    const { max, mean } = levelErrors(actual, expected, c.channels);
    const upscale = c.name === 'upscale';
    const grey = c.channels === 1 ? 1 : 0;
    if (c.exact) {
      expect(max).toBeLessThan(1e-3);
    } else {
      expect(max).toBeLessThanOrEqual((upscale ? 6 : 4) + grey);
      expect(mean).toBeLessThan((upscale ? 2 : 0.5) + grey);
    }
  });
});

describe("geometry in the seed's integer arithmetic", () => {
  test("Python round() halves to even, as the seed's centre crop offset", () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, 0, 2, 3]);
    // 224 x 231: (231 - 224) / 2 = 3.5 -> 4; 229 x 224: 2.5 -> 2 (both cases have PIL goldens above).
    expect(centerCropGeometry(224, 231, [224, 224]).crop).toEqual({ top: 4, left: 0, width: 224, height: 224 });
    expect(centerCropGeometry(229, 224, [224, 224]).crop).toEqual({ top: 0, left: 2, width: 224, height: 224 });
    // int(224 * 300 / 200) = 336; int(64 * 333 / 100) = 213 (truncation, not rounding: 213.12).
    expect(centerCropGeometry(200, 300, [224, 224])).toMatchObject({ resizeWidth: 224, resizeHeight: 336 });
    expect(centerCropGeometry(333, 100, [64, 64])).toMatchObject({ resizeWidth: 213, resizeHeight: 64 });
    expect(letterboxGeometry(300, 200, [64, 64])).toEqual({
      resizeWidth: 64,
      resizeHeight: 42,
      top: 11,
      left: 0,
      bottom: 11,
      right: 0,
    });
  });
});

describe('random resized crop', () => {
  const { rrc } = manifest;
  test("boxes have torchvision's distribution (20 000 draws each, means within 4 standard errors)", () => {
    const area: number[] = [];
    const logRatio: number[] = [];
    const top: number[] = [];
    const left: number[] = [];
    for (let s = 0; s < rrc.samples; s++) {
      const box = randomResizedCropBox(rrc.width, rrc.height, forKey(11, s));
      if (!(
        box.width > 0 &&
        box.height > 0 &&
        box.top >= 0 &&
        box.left >= 0 &&
        box.left + box.width <= rrc.width &&
        box.top + box.height <= rrc.height
      ))
        throw new Error(`box outside the image: ${JSON.stringify(box)}`);
      area.push((box.width * box.height) / (rrc.width * rrc.height));
      logRatio.push(Math.log(box.width / box.height));
      top.push(rrc.height > box.height ? box.top / (rrc.height - box.height) : 0.5);
      left.push(rrc.width > box.width ? box.left / (rrc.width - box.width) : 0.5);
    }
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const check = (v: number[], ref: { mean: number; std: number }): void => {
      // Two independent samples of the same law: their means differ by under 4 * sqrt(2) * std / sqrt(n).
      expect(Math.abs(mean(v) - ref.mean)).toBeLessThan((4 * Math.SQRT2 * ref.std) / Math.sqrt(rrc.samples));
    };
    check(area, rrc.area);
    check(logRatio, rrc.logRatio);
    check(top, rrc.topFraction);
    check(left, rrc.leftFraction);
  });

  test.each(manifest.rrc.fallback.map((f) => [`${f.width}x${f.height}`, f] as const))(
    "fallback for %s is torchvision's",
    (_name, f) => {
      expect(randomResizedCropBox(f.width, f.height, forKey(3))).toEqual(f.box);
    },
  );

  test("augment: the output is the stream's box resized, flipped when the stream says so; same stream, same output", async () => {
    const source = fixture('images/rgb-300x200.png');
    const pre = new Preprocessor({ size: 32 });
    const a = await pre.augment(source, forKey(1, 2, 3));
    const b = await pre.augment(source, forKey(1, 2, 3));
    expect(b).toEqual(a);
    // The same box without the flip, through the evaluation path's pieces: crop the box with sharp by hand.
    const rng = forKey(1, 2, 3);
    const box = randomResizedCropBox(300, 200, rng);
    const flip = rng.float() < 0.5;
    const noFlip = await new Preprocessor({ size: 32, augmentation: { horizontalFlip: false } }).augment(
      source,
      forKey(1, 2, 3),
    );
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const o = c * 1024 + y * 32;
          expect(a[o + x]).toBe(noFlip[o + (flip ? 31 - x : x)]);
        }
      }
    }
    // The red channel is a horizontal ramp (x * 255 / 299): the crop's mean red tells where its centre is.
    let red = 0;
    for (let i = 0; i < 1024; i++) red += noFlip[i] * IMAGENET_STD[0] + IMAGENET_MEAN[0];
    const centreX = box.left + (box.width - 1) / 2;
    expect(Math.abs((red / 1024) * 299 - centreX)).toBeLessThan(2);
  });
});

describe('bad images give a DataError naming the file', () => {
  const pre = new Preprocessor({ size: 32 });
  test.each(['truncated.jpg', 'garbage.jpg'])('%s', async (name) => {
    const file = fixture(`images/${name}`);
    const error = await pre.evaluate(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).file).toBe(file);
    expect((error as DataError).message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: cannot decode image: `));
  });

  test('missing file', async () => {
    const file = path.join(tempDir('pre'), 'missing.png');
    await expectRejects(pre.evaluate(file), DataError, `${file}: no such image file`, { file });
  });

  test('options are checked with the validate.ts wording', () => {
    expectThrows(
      () => new Preprocessor({ size: 0 }),
      RangeError,
      'expected an integer in [1, 65535] for size, received number 0',
    );
    expect(() => new Preprocessor({ size: 8, resize: 'stretch' as never })).toThrow(
      new RangeError("expected 'center-crop' or 'letterbox' for resize, received the string 'stretch'"),
    );
    expect(() => new Preprocessor({ size: 8, mean: [0.5, 0.5] })).toThrow(
      new RangeError('expected 1 or 3 numbers (one per channel) for mean, received [0.5, 0.5]'),
    );
    expect(fs.existsSync(fixture('images/rgb-300x200.jpg'))).toBe(true);
  });
});
