// Reading the few numbers the serving benchmarks need from a server's /metrics (Prometheus text exposition).

/** Values of every sample of metric `name` (any labels), in the order they appear. */
export function metricValues(text: string, name: string): number[] {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue; // a longer name that starts the same
    const afterLabels = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest;
    values.push(Number(afterLabels.trim().split(/\s+/)[0]));
  }
  return values;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Mean of the first histogram whose name matches `pattern` (its _sum over its _count, all label sets pooled). */
export function histogramMean(
  text: string,
  pattern: RegExp,
): { name: string; mean: number; count: number } | undefined {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)_sum[ {]/.exec(line);
    if (match && pattern.test(match[1])) names.add(match[1]);
  }
  for (const name of names) {
    const count = sum(metricValues(text, `${name}_count`));
    return { name, mean: count ? sum(metricValues(text, `${name}_sum`)) / count : NaN, count };
  }
  return undefined;
}

export async function fetchMetrics(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return text;
}
