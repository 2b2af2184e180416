// Order statistics of the serving benchmarks: medians across runs, nearest-rank percentiles of latencies.

const ascending = (values: number[]) => [...values].sort((a, b) => a - b);

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = ascending(values);
  const middle = Math.floor(s.length / 2);
  return s.length % 2 ? s[middle] : (s[middle - 1] + s[middle]) / 2;
}

/** Nearest rank: the smallest sample that `p` percent of the samples do not exceed (NaN for no samples). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = ascending(values);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1];
}
