// BatchLoader's `shard` against PyTorch's DistributedSampler: each rank's share of an epoch is what a
// DistributedSampler (shuffle=False, drop_last=False) over the one-process loader's order gives that rank
// (tools/distributed_sampler_reference.py), the ranks' batches of a step together are the one-process loader's
// batch of that step at batchSize x count (plus the padding, in the last one), and `pad: false` covers every sample
// exactly once. Pure TypeScript: no process group.
import { spawnSync } from 'child_process';
import { BatchLoader } from '../lib/data/loader';
import { indexDataset } from './distributed-jobs';
import { python, tool, TOOLS } from './python';

interface Case {
  n: number;
  count: number;
  batchSize: number;
  shuffle: boolean;
}

const CASES: Case[] = [
  { n: 10, count: 2, batchSize: 3, shuffle: false },
  { n: 10, count: 3, batchSize: 2, shuffle: true },
  { n: 12, count: 3, batchSize: 4, shuffle: true },
  { n: 7, count: 4, batchSize: 2, shuffle: true },
  // More ranks than samples: the padding goes round the order more than once.
  { n: 3, count: 8, batchSize: 1, shuffle: false },
  { n: 1, count: 2, batchSize: 5, shuffle: true },
];
const EPOCHS = [0, 1];
const SEED = 5;

interface Expected {
  padded: number[][];
  uneven: number[][];
}

let expected: Expected[][];

beforeAll(() => {
  const runs = CASES.flatMap((c) =>
    EPOCHS.map((epoch) => ({
      order: Array.from(loader(c).order(epoch)),
      count: c.count,
    })),
  );
  const reference = spawnSync(python(), [tool('distributed_sampler_reference.py')], {
    cwd: TOOLS,
    input: JSON.stringify({ cases: runs }),
    encoding: 'utf8',
  });
  expect(reference.stderr).toBe('');
  expect(reference.status).toBe(0);
  const results: Expected[] = JSON.parse(reference.stdout).results;
  expected = CASES.map((_, i) => EPOCHS.map((__, e) => results[i * EPOCHS.length + e]));
});

/** The loader of case C (one process, or rank `shard.rank` of `shard.count`), at another batch size if given. */
function loader(c: Case, shard?: { rank: number; count: number; pad: boolean }, batchSize = c.batchSize) {
  return new BatchLoader(indexDataset(c.n), { batchSize, shuffle: c.shuffle, seed: SEED, shard });
}

function loaders(c: Case, pad: boolean): BatchLoader[] {
  return Array.from({ length: c.count }, (_, rank) => loader(c, { rank, count: c.count, pad }));
}

async function batchIndices(loader: BatchLoader, epoch: number): Promise<number[][]> {
  const batches: number[][] = [];
  for await (const batch of loader.epoch(epoch)) batches.push(Array.from(batch.indices));
  return batches;
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

describe.each(CASES.map((c, i) => [c, i] as const))('%j', (c, caseIndex) => {
  test.each(EPOCHS)("epoch %i: each rank's share is DistributedSampler's, in its order", async (epoch) => {
    const { padded } = expected[caseIndex][epoch];
    for (const [rank, share] of loaders(c, true).entries()) {
      expect(Array.from(share.order(epoch))).toEqual(padded[rank]);
      expect(share.samples).toBe(padded[rank].length);
      expect(share.length).toBe(Math.ceil(padded[rank].length / c.batchSize));
      expect((await batchIndices(share, epoch)).flat()).toEqual(padded[rank]);
    }
  });

  test.each(EPOCHS)(
    "epoch %i: the ranks' batches of a step are the one-process batch of that step at batchSize x count",
    async (epoch) => {
      const ranks = await Promise.all(loaders(c, true).map((share) => batchIndices(share, epoch)));
      const global = loader(c, undefined, c.batchSize * c.count);
      const globalBatches = await batchIndices(global, epoch);
      expect(ranks.every((batches) => batches.length === globalBatches.length)).toBe(true);
      // The padding (the order's first samples again) fills the last global batch up to a multiple of count.
      const order = Array.from(global.order(epoch));
      const paddingLength = c.count * Math.ceil(c.n / c.count) - c.n;
      const padding = Array.from({ length: paddingLength }, (_, i) => order[i % c.n]);
      globalBatches.forEach((batch, step) => {
        const last = step === globalBatches.length - 1;
        const together = ranks.flatMap((batches) => batches[step]);
        expect(sorted(together)).toEqual(sorted(last ? [...batch, ...padding] : batch));
      });
    },
  );

  test.each(EPOCHS)('epoch %i: pad: false gives every sample to exactly one rank', async (epoch) => {
    const { uneven } = expected[caseIndex][epoch];
    const shards = await Promise.all(
      loaders(c, false).map(async (share, rank) => {
        expect(Array.from(share.order(epoch))).toEqual(uneven[rank]);
        expect(share.samples).toBe(uneven[rank].length);
        return (await batchIndices(share, epoch)).flat();
      }),
    );
    expect(shards).toEqual(uneven);
    expect(sorted(shards.flat())).toEqual(Array.from({ length: c.n }, (_, i) => i));
  });
});
