// The tests' one seeded random generator (mulberry32: 32 bits of state, a few integer operations a draw), so that
// fuzzers and generated inputs draw the same numbers on every run and every machine.

/** Uniform numbers in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded stream with the draws the fuzzers use: `next()` in [0, 1), `int(n)` in [0, n), `pick(items)`. */
export function seededRandom(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}

export type SeededRandom = ReturnType<typeof seededRandom>;

/** `count` standard normal draws from mulberry32(seed) (Box-Muller, the cosine half). */
export function seededNormals(seed: number, count: number): Float32Array {
  const uniform = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = 1 - uniform();
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}
