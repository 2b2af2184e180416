// What perf_analyzer reports, read: its CSV (`-f FILE`: one row per concurrency measured, times in microseconds) and
// the request counts that only its console output gives. Written from the columns perf_analyzer 2.50.0 writes; the
// server-side columns appear only where the server answers Triton's statistics extension (/v2/models/NAME/stats).

export interface PerfAnalyzerRow {
  concurrency: number;
  inferencesPerSecond: number;
  /** Client-side latency percentiles of the measurement, microseconds. */
  p50Us: number;
  p90Us: number;
  p95Us: number;
  p99Us: number;
  clientSendUs?: number;
  clientRecvUs?: number;
  /** Server-side averages, microseconds, where the server reports them. */
  server?: {
    networkAndServerUs?: number;
    queueUs: number;
    computeInputUs?: number;
    computeInferUs: number;
    computeOutputUs?: number;
  };
  /** Every column as perf_analyzer named it, numbers as written. */
  columns: Record<string, number>;
}

/** The rows of perf_analyzer's CSV report. Throws, naming the columns found, when a needed one is missing. */
export function parsePerfAnalyzerCsv(text: string): PerfAnalyzerRow[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length < 2) throw new Error(`perf_analyzer's CSV has no rows: '${text.slice(0, 200)}'`);
  const header = lines[0].split(',').map((name) => name.trim());
  const rows: PerfAnalyzerRow[] = [];
  // Only the rows of the measurements: with --collect-metrics a second table of other columns can follow.
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells.length !== header.length || !/^\d+$/.test(cells[0].trim())) break;
    const columns = Object.fromEntries(header.map((name, i) => [name, Number(cells[i])]));
    const need = (name: string) => {
      const value = columns[name];
      if (value === undefined || Number.isNaN(value)) {
        throw new Error(`perf_analyzer's CSV has no '${name}' column; its columns: ${header.join(', ')}`);
      }
      return value;
    };
    const optional = (name: string) => (Number.isFinite(columns[name]) ? columns[name] : undefined);
    const queueUs = optional('Server Queue');
    const computeInferUs = optional('Server Compute Infer');
    rows.push({
      concurrency: need(header[0]),
      inferencesPerSecond: need('Inferences/Second'),
      p50Us: need('p50 latency'),
      p90Us: need('p90 latency'),
      p95Us: need('p95 latency'),
      p99Us: need('p99 latency'),
      clientSendUs: optional('Client Send'),
      clientRecvUs: optional('Client Recv'),
      server:
        queueUs === undefined || computeInferUs === undefined
          ? undefined
          : {
              networkAndServerUs: optional('Network+Server Send/Recv'),
              queueUs,
              computeInputUs: optional('Server Compute Input'),
              computeInferUs,
              computeOutputUs: optional('Server Compute Output'),
            },
      columns,
    });
  }
  if (!rows.length) throw new Error(`perf_analyzer's CSV has no measurement rows: '${text.slice(0, 200)}'`);
  return rows;
}

/** The requests each concurrency's measurement completed ("Request count: N" under "Request concurrency: C" in
 *  perf_analyzer's console output), by concurrency. The CSV does not carry them. */
export function parseRequestCounts(stdout: string): Map<number, number> {
  const counts = new Map<number, number>();
  const blocks = stdout.split(/^Request concurrency: /m).slice(1);
  for (const block of blocks) {
    const concurrency = Number(/^\d+/.exec(block)?.[0]);
    const count = /Request count: (\d+)/.exec(block);
    if (Number.isInteger(concurrency) && count) counts.set(concurrency, Number(count[1]));
  }
  return counts;
}
