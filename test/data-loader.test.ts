// The seeded streams and the batch loader: an epoch's batches depend only on (seed, epoch), not on earlier epochs,
// on prefetch depth, or on load timing; shuffles are permutations; augmentation follows each sample's own stream.
import * as path from 'path';
import { DataError } from '../lib/data/errors';
import { idxDataset, IdxDataset } from '../lib/data/idx';
import { BatchLoader, Batch } from '../lib/data/loader';
import type { Dataset } from '../lib/data/dataset';
import { Rng, forKey } from '../lib/data/random';
import { FASHION } from './data-fixtures';
import { expectRejects, expectThrows } from './expect-error';

let fashion: IdxDataset;
beforeAll(async () => {
  fashion = await idxDataset({
    images: path.join(FASHION, 't10k-images-idx3-ubyte.gz'),
    labels: path.join(FASHION, 't10k-labels-idx1-ubyte.gz'),
    mean: [0.286],
    std: [0.353],
    augmentation: { cropPadding: 2 },
  });
});

/** Bitwise equality of typed arrays (jest's toEqual walks them element by element: seconds for millions). */
function same(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function collect(loader: BatchLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of loader.epoch(epoch)) out.push(batch);
  return out;
}

describe('random streams', () => {
  test('same key, same stream; any change in the key, another stream', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.nextUint32());
    expect(draw(forKey(7, 1, 2))).toEqual(draw(forKey(7, 1, 2)));
    const keys = [
      [7, 1, 2],
      [7, 2, 1],
      [8, 1, 2],
      [7, 1],
      [7, 1, 2, 0],
      [7, 1, -2],
      [2 ** 40 + 7, 1, 2],
    ];
    const firsts = new Set(keys.map(([s, ...rest]) => forKey(s, ...rest).nextUint32()));
    expect(firsts.size).toBe(keys.length);
  });

  test('floats are uniform in [0, 1) and int(n) is unbiased (chi-square over 10 buckets)', () => {
    const r = forKey(1);
    let sum = 0;
    const n = 100000;
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const f = r.float();
      if (!(f >= 0 && f < 1)) throw new Error(`float out of range: ${f}`);
      sum += f;
      buckets[r.int(10)]++;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    const chi2 = buckets.reduce((acc, b) => acc + (b - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9); // p = 0.001 for 9 degrees of freedom
  });

  test('shuffle is a permutation, and every position is uniform', () => {
    const counts = Array.from({ length: 5 }, () => new Array(5).fill(0));
    for (let s = 0; s < 5000; s++) {
      const p = forKey(s).shuffle(5);
      expect(Array.from(p).sort()).toEqual([0, 1, 2, 3, 4]);
      p.forEach((v, i) => counts[i][v]++);
    }
    for (const row of counts) for (const c of row) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('BatchLoader', () => {
  test('epoch e is the same whether or not earlier epochs ran, and whatever the prefetch depth', async () => {
    const options = { batchSize: 100, shuffle: true, augment: true, seed: 42 };
    const first = new BatchLoader(fashion, { ...options, prefetch: 0 });
    await collect(first, 0);
    await collect(first, 1);
    const afterTwo = await collect(first, 2);
    const fresh = await collect(new BatchLoader(fashion, { ...options, prefetch: 7 }), 2);
    expect(fresh.length).toBe(100);
    expect(same(fresh[0].indices, (await collect(first, 3))[0].indices)).toBe(false);
    for (let b = 0; b < fresh.length; b++) {
      expect(same(fresh[b].indices, afterTwo[b].indices)).toBe(true);
      expect(same(fresh[b].images, afterTwo[b].images)).toBe(true);
      expect(same(fresh[b].labels, afterTwo[b].labels)).toBe(true);
    }
  });

  test('each sample is augmented by its own (seed, epoch, index) stream, whatever batch it lands in', async () => {
    const loader = new BatchLoader(fashion, { batchSize: 64, shuffle: true, augment: true, seed: 3 });
    const [batch] = await collect(loader, 5);
    const k = 17;
    const index = batch.indices[k];
    const alone = fashion.loadSync([index], [loader.sampleStream(5, index)]);
    expect(same(batch.images.subarray(k * 784, (k + 1) * 784), alone.images)).toBe(true);
    expect(batch.labels[k]).toBe(fashion.labelOf(index));
  });

  test('an epoch visits every sample once; epochs differ; no shuffle keeps the order; sizes and dropLast', async () => {
    const loader = new BatchLoader(fashion, { batchSize: 300, shuffle: true, seed: 1 });
    const e0 = await collect(loader, 0);
    expect(e0.length).toBe(34);
    expect(e0[33].shape).toEqual([100, 1, 28, 28]);
    const seen = new Uint8Array(10000);
    for (const b of e0) for (const i of b.indices) seen[i]++;
    expect(seen.every((v) => v === 1)).toBe(true);
    expect(same(loader.order(1), loader.order(0))).toBe(false);
    expect(new BatchLoader(fashion, { batchSize: 300, dropLast: true }).length).toBe(33);
    const plain = await collect(new BatchLoader(fashion, { batchSize: 4000 }), 9);
    expect(Array.from(plain[2].indices.subarray(0, 3))).toEqual([8000, 8001, 8002]);
    expect(same(plain[0].images, fashion.loadSync(Array.from(plain[0].indices)).images)).toBe(true);
  });

  test('prefetch keeps loads ahead of the consumer; waitMs counts the waiting', async () => {
    const started: number[] = [];
    const slow: Dataset = {
      length: 10,
      sampleShape: [1, 1, 1],
      labelOf: () => 0,
      labels: () => new Int32Array(10),
      load: async (indices) => {
        started.push(indices[0]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { images: new Float32Array(indices.length), labels: new Int32Array(indices.length) };
      },
    };
    const it = new BatchLoader(slow, { batchSize: 1, prefetch: 3 }).epoch(0);
    await it.next();
    // The first request started batch 0 and the three behind it, concurrently.
    expect(started).toEqual([0, 1, 2, 3]);
    expect(it.waitMs).toBeGreaterThan(5);
  });

  test('a failed load rejects at its turn with its DataError; a break stops the epoch', async () => {
    const failing: Dataset = {
      length: 6,
      sampleShape: [1, 1, 1],
      labelOf: () => 0,
      labels: () => new Int32Array(6),
      load: async (indices) => {
        if (indices[0] === 2) throw new DataError('bad.png: cannot decode image', 'bad.png');
        return { images: new Float32Array(indices.length), labels: new Int32Array(indices.length) };
      },
    };
    const seen: number[] = [];
    await expectRejects(
      (async () => {
        for await (const b of new BatchLoader(failing, { batchSize: 1, prefetch: 4 }).epoch(0)) seen.push(b.batch);
      })(),
      DataError,
      'bad.png: cannot decode image',
      { file: 'bad.png' },
    );
    expect(seen).toEqual([0, 1]);
    let count = 0;
    for await (const _ of new BatchLoader(failing, { batchSize: 1 }).epoch(0)) if (++count === 1) break;
    expect(count).toBe(1);
  });

  test('options are checked', () => {
    expectThrows(
      () => new BatchLoader(fashion, { batchSize: 0 }),
      RangeError,
      'expected an integer >= 1 for batchSize, received number 0',
    );
    expect(() => new BatchLoader(fashion, { batchSize: 2, shufle: true } as never)).toThrow(TypeError);
  });
});
