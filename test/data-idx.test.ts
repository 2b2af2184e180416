// The IDX reader and dataset against numpy reading the same real Fashion-MNIST files (tools/make_data_fixtures.py),
// normalisation against torchvision's ToTensor + Normalize, random crop against numpy.pad, and every malformed
// file against its DataError.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DataError } from '../lib/data/errors';
import { idxDataset, readIdx } from '../lib/data/idx';
import { forKey } from '../lib/data/random';
import { FASHION, dataManifest, fixture, readF32, tempDir } from './data-fixtures';

const manifest = dataManifest();
const tmp = tempDir('idx');
const t10kImages = path.join(FASHION, 't10k-images-idx3-ubyte.gz');
const t10kLabels = path.join(FASHION, 't10k-labels-idx1-ubyte.gz');

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

function idxBytes(dims: number[], data: Uint8Array, type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

async function rejection(promise: Promise<unknown>): Promise<DataError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).name).toBe('DataError');
    return error as DataError;
  }
  throw new Error('expected a DataError, the call succeeded');
}

describe('readIdx on the real Fashion-MNIST files', () => {
  test.each(Object.keys(manifest.idx))("%s equals numpy's reading", async (name) => {
    const expected = manifest.idx[name];
    const { dims, data } = await readIdx(expected.path);
    expect(dims).toEqual(expected.dims);
    expect(crypto.createHash('sha256').update(data).digest('hex')).toBe(expected.sha256);
    expect(Array.from(data.subarray(0, 64))).toEqual(expected.first);
    expect(Array.from(data.subarray(data.length - 64))).toEqual(expected.last);
  });

  test('an uncompressed file is read the same (gzip is detected by its magic, not the name)', async () => {
    const plain = await readIdx(fixture(manifest.uncompressedLabels));
    const expected = manifest.idx['t10k-labels-idx1-ubyte.gz'];
    expect(plain.dims).toEqual(expected.dims);
    expect(crypto.createHash('sha256').update(plain.data).digest('hex')).toBe(expected.sha256);
    // A gzipped file named like a plain one still inflates.
    const renamed = write('gzipped-without-gz-name', fs.readFileSync(t10kLabels));
    expect((await readIdx(renamed)).data).toEqual(plain.data);
  });
});

describe('readIdx errors name the file and what was expected', () => {
  test('missing file', async () => {
    const missing = path.join(tmp, 'nope.idx');
    const error = await rejection(readIdx(missing));
    expect(error.file).toBe(missing);
    expect(error.message).toBe(`${missing}: no such file: expected an IDX file (gzipped or not)`);
  });

  test('truncated gzip', async () => {
    const gz = fs.readFileSync(t10kLabels);
    const file = write('cut.gz', gz.subarray(0, gz.length >> 1));
    const error = await rejection(readIdx(file));
    expect(error.file).toBe(file);
    expect(error.message).toMatch(
      new RegExp(`^${file}: corrupt or truncated gzip data \\(${gz.length >> 1} bytes compressed\\): `),
    );
  });

  test('wrong magic', async () => {
    const file = write('png-not-idx', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    const error = await rejection(readIdx(file));
    expect(error.message).toBe(
      `${file}: not an IDX file: expected magic bytes 00 00 <type> <ndims>, received 89 50 4e 47`,
    );
  });

  test('wrong type code', async () => {
    const file = write('int16.idx', idxBytes([2], new Uint8Array(4), 0x0b));
    const error = await rejection(readIdx(file));
    expect(error.message).toBe(
      `${file}: unsupported IDX type code: expected 0x08 (unsigned byte), received 0x0b (int16)`,
    );
  });

  test('truncated data, in a gzipped file too', async () => {
    const raw = idxBytes([3, 4, 4], new Uint8Array(40));
    const file = write('short.idx.gz', zlib.gzipSync(raw));
    const error = await rejection(readIdx(file));
    expect(error.message).toBe(`${file}: truncated IDX data: expected 48 bytes for dims [3, 4, 4], received 40`);
  });

  test('trailing bytes', async () => {
    const file = write('long.idx', idxBytes([5], new Uint8Array(7)));
    const error = await rejection(readIdx(file));
    expect(error.message).toBe(`${file}: trailing bytes after IDX data: expected 5 bytes for dims [5], received 7`);
  });

  test('truncated header', async () => {
    const file = write('header.idx', Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]));
    const error = await rejection(readIdx(file));
    expect(error.message).toBe(`${file}: truncated IDX header: expected 16 bytes for 3 dimensions, received 8`);
  });
});

describe('idxDataset', () => {
  test("Fashion-MNIST test set: labels and normalised pixels equal torchvision's ToTensor + Normalize", async () => {
    const ds = await idxDataset({
      images: t10kImages,
      labels: t10kLabels,
      mean: [manifest.normalised.mean],
      std: [manifest.normalised.std],
    });
    expect(ds.length).toBe(10000);
    expect(ds.sampleShape).toEqual([1, 28, 28]);
    expect(ds.numClasses).toBe(10);
    const counts = new Array(10).fill(0);
    for (const label of ds.labels()) counts[label]++;
    expect(counts).toEqual(manifest.idx['t10k-labels-idx1-ubyte.gz'].counts);
    const indices = Array.from({ length: 128 }, (_, i) => i);
    const { images } = await ds.load(indices);
    const expected = readF32(manifest.normalised.file);
    expect(images.length).toBe(expected.length);
    let maxError = 0;
    for (let i = 0; i < images.length; i++) maxError = Math.max(maxError, Math.abs(images[i] - expected[i]));
    // Both compute in float32; the table holds the same two float32 steps, so at most an ulp or so apart.
    expect(maxError).toBeLessThan(1e-6);
  });

  test('channels: 3 repeats the grey plane', async () => {
    const ds = await idxDataset({ images: t10kImages, labels: t10kLabels, channels: 3 });
    const { images } = await ds.load([7]);
    const plane = 28 * 28;
    expect(ds.sampleShape).toEqual([3, 28, 28]);
    expect(images.subarray(plane, 2 * plane)).toEqual(images.subarray(0, plane));
    expect(images.subarray(2 * plane)).toEqual(images.subarray(0, plane));
    expect(images[0 + 14 * 28 + 14]).toBeCloseTo(ds.raw(7)[14 * 28 + 14] / 255, 6);
  });

  test("horizontal flip: each sample is either numpy's original or its mirror, about half each", async () => {
    const ds = await idxDataset({ images: t10kImages, labels: t10kLabels, augmentation: { horizontalFlip: true } });
    const n = 400;
    const indices = Array.from({ length: n }, (_, i) => i);
    const { images } = await ds.load(
      indices,
      indices.map((i) => forKey(5, 0, i)),
    );
    let flipped = 0;
    for (let k = 0; k < n; k++) {
      const raw = ds.raw(k);
      const out = images.subarray(k * 784, (k + 1) * 784);
      const asBytes = Array.from(out, (v) => Math.round(v * 255));
      const original = Array.from(raw);
      const mirror = original.map((_, p) => raw[Math.floor(p / 28) * 28 + 27 - (p % 28)]);
      const isOriginal = asBytes.every((v, p) => v === original[p]);
      const isMirror = asBytes.every((v, p) => v === mirror[p]);
      expect(isOriginal || isMirror).toBe(true);
      if (isMirror && !isOriginal) flipped++;
    }
    // Binomial(400, 0.5): 5 standard deviations is +-50.
    expect(Math.abs(flipped - n / 2)).toBeLessThan(50);
  });

  test("random crop with padding 4 and flip: each sample is a 28x28 window of numpy.pad's 36x36 image, or its mirror", async () => {
    const ds = await idxDataset({ images: t10kImages, labels: t10kLabels, augmentation: { cropPadding: 4 } });
    const padded = fs.readFileSync(fixture(manifest.padded.file));
    const seen = new Set<string>();
    for (let trial = 0; trial < 4; trial++) {
      const indices = Array.from({ length: 16 }, (_, i) => i);
      const { images } = await ds.load(
        indices,
        indices.map((i) => forKey(trial, 0, i)),
      );
      for (let k = 0; k < 16; k++) {
        const out = Array.from(images.subarray(k * 784, (k + 1) * 784), (v) => Math.round(v * 255));
        const matches: string[] = [];
        for (let top = 0; top <= 8; top++) {
          for (let left = 0; left <= 8; left++) {
            for (const mirrored of [false, true]) {
              let same = true;
              for (let p = 0; p < 784 && same; p++) {
                const x = mirrored ? 27 - (p % 28) : p % 28;
                same = out[p] === padded[k * 36 * 36 + (top + Math.floor(p / 28)) * 36 + left + x];
              }
              if (same) matches.push(`${top},${left},${mirrored}`);
            }
          }
        }
        expect(matches.length).toBeGreaterThan(0);
        matches.forEach((m) => seen.add(m));
      }
    }
    // 64 crops over 81 offsets x 2 mirrorings: they vary, and both mirrorings occur.
    expect(seen.size).toBeGreaterThan(20);
    expect([...seen].some((m) => m.endsWith('true'))).toBe(true);
    expect([...seen].some((m) => m.endsWith('false'))).toBe(true);
  });

  test('labels and images must agree on N; a label out of range names the file and the sample', async () => {
    const images = write('img.idx', idxBytes([3, 2, 2], new Uint8Array(12)));
    const twoLabels = write('two.idx', idxBytes([2], new Uint8Array([0, 1])));
    let error = await rejection(idxDataset({ images, labels: twoLabels }));
    expect(error.file).toBe(twoLabels);
    expect(error.message).toBe(`${twoLabels}: expected 3 labels, one per image of ${images}, received 2`);

    const badLabel = write('bad.idx', idxBytes([3], new Uint8Array([0, 9, 10])));
    error = await rejection(idxDataset({ images, labels: badLabel, numClasses: 10 }));
    expect(error.message).toBe(`${badLabel}: label of sample 2 is 10: expected a label in [0, 9] for 10 classes`);

    error = await rejection(idxDataset({ images: twoLabels, labels: twoLabels }));
    expect(error.message).toBe(`${twoLabels}: expected images of dims [N, H, W], received dims [2]`);
  });

  test('argument errors use the validate.ts wording', async () => {
    await expect(idxDataset({ images: t10kImages, labels: t10kLabels, channels: 2 as 1 })).rejects.toThrow(
      new RangeError('expected 1 or 3 for channels, received number 2'),
    );
    await expect(idxDataset({ images: t10kImages, labels: t10kLabels, std: [0] })).rejects.toThrow(
      new TypeError('expected an array of positive finite numbers for std, received [0]'),
    );
    await expect(idxDataset({ images: t10kImages, labels: t10kLabels, numClass: 3 } as never)).rejects.toThrow(
      TypeError,
    );
  });
});
