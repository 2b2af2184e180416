// The seeded random numbers of the data pipeline. Every random choice (the epoch's order, each sample's crop and
// flip) comes from a stream derived from a key such as (seed, epoch) or (seed, epoch, sample index), never from a
// shared generator, so the result does not depend on how many batches were prefetched, in which order loads
// finished, or whether earlier epochs ran in this process: resuming at epoch e gives epoch e's batches bit for bit.
//
// Key hashing: each 32-bit word of the key goes through a murmur3-style finaliser into two independent lanes, and
// the lanes expand (splitmix-style) into the 128-bit state of a xoshiro128** generator. Plain 32-bit integer
// arithmetic (Math.imul, >>>) keeps it fast and identical on every platform.
import { expected, requireInteger } from '../validate';

const TWO_POW_32 = 4294967296;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A xoshiro128** stream. Create one with `forKey`; the constructor takes raw state for tests of the generator. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    // The all-zero state is the one state xoshiro never leaves.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits, like Python's random.random(). */
  float(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A uniform float in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.float();
  }

  /** A uniform integer in [0, n), without modulo bias (rejection of the short last bucket). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32)
      throw new RangeError(expected('an integer in [1, 2^32]', 'n', n));
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [low, high], both ends included (Python's random.randint). */
  intBetween(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  shuffle(n: number): Int32Array {
    requireInteger(n, 'n', 0, 0x7fffffff);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
    return order;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The stream for a key: `forKey(seed)`, `forKey(seed, epoch)`, `forKey(seed, epoch, index)`, ... Keys that differ in
 * any element, or in length, give unrelated streams. Elements are safe integers (negative ones allowed).
 */
export function forKey(seed: number, ...ints: number[]): Rng {
  const words: number[] = [];
  const push = (value: number, argument: string): void => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new (typeof value === 'number' ? RangeError : TypeError)(expected('a safe integer', argument, value));
    }
    // Two's-complement split into low and high 32-bit words, so every safe integer has its own pair.
    const low = value >>> 0;
    const high = Math.floor((value - low) / TWO_POW_32) >>> 0;
    words.push(low, high);
  };
  push(seed, 'seed');
  ints.forEach((value, i) => push(value, `key element ${i + 1}`));
  words.push(ints.length);

  let a = 0x243f6a88;
  let b = 0xb7e15162;
  for (const word of words) {
    a = fmix32((a ^ word) + 0x9e3779b9);
    b = fmix32((Math.imul(b, 0x01000193) ^ word) + 0x7f4a7c15);
  }
  // Expand the two lanes into four state words; each is a distinct mix so no two start equal.
  return new Rng(
    fmix32(a ^ 0x85ebca6b),
    fmix32(b ^ 0xc2b2ae35),
    fmix32((a + b) ^ 0x27d4eb2f),
    fmix32((a ^ b) + 0x165667b1),
  );
}
