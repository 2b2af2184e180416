// bench:serve's second load generator: Triton's perf_analyzer (bench/perf-analyzer.ts) against the same server right
// after autocannon's load, at the same concurrency, in each wire mode asked for: HTTP with binary tensors (what
// autocannon sends), HTTP with JSON tensors (perf_analyzer's random data, NaN literals among it), and gRPC where the
// server serves it (`vitorch serve --grpc-port`; a server that refuses the flag has the mode skipped, saying so).
// Also the side-by-side table of both tools' figures.
import type { LoadSummary } from './load';
import { PerfAnalyzerFailed, runPerfAnalyzer } from './perf-analyzer';
import type { PerfAnalyzerResult } from './perf-analyzer';
import type { ServerUnderTest } from './server-under-test';
import { median } from './stats';

export const PERF_ANALYZER_MODES = ['http-binary', 'http-json', 'grpc'] as const;
export type PerfAnalyzerMode = (typeof PERF_ANALYZER_MODES)[number];

const MODE_LABEL: Record<PerfAnalyzerMode, string> = {
  'http-binary': 'HTTP, binary tensors',
  'http-json': 'HTTP, JSON tensors',
  grpc: 'gRPC',
};

export interface PerfAnalyzerSettings {
  modes: PerfAnalyzerMode[];
  concurrency: number;
  intervalMs: number;
  stabilityPercent: number;
  /** The latency percentile the windows must agree on (perf_analyzer's --percentile). */
  stabilizingPercentile: number;
  maxTrials: number;
}

export interface PerfAnalyzerRun {
  mode: PerfAnalyzerMode;
  result?: PerfAnalyzerResult;
  /** Why there is no result: not served (skipped) or perf_analyzer failed (error). */
  skipped?: string;
  error?: string;
}

/** perf_analyzer in each mode against `server`, one after the other. */
export async function measureWithPerfAnalyzer(
  server: ServerUnderTest,
  settings: PerfAnalyzerSettings,
): Promise<PerfAnalyzerRun[]> {
  const endpoints = server.perfAnalyzer;
  const runs: PerfAnalyzerRun[] = [];
  for (const mode of settings.modes) {
    if (!endpoints) {
      runs.push({ mode, skipped: `${server.label} does not speak Triton's protocol` });
      continue;
    }
    const grpc = mode === 'grpc';
    if (grpc && !endpoints.grpc) {
      runs.push({ mode, skipped: endpoints.grpcMissing ?? 'no gRPC endpoint' });
      continue;
    }
    console.error(`  perf_analyzer, ${MODE_LABEL[mode]}, concurrency ${settings.concurrency}`);
    try {
      const result = await runPerfAnalyzer({
        model: endpoints.model,
        url: grpc ? endpoints.grpc! : endpoints.http,
        protocol: grpc ? 'grpc' : 'http',
        inputFormat: mode === 'http-json' ? 'json' : 'binary',
        outputFormat: mode === 'http-json' ? 'json' : 'binary',
        concurrency: settings.concurrency,
        measurementIntervalMs: settings.intervalMs,
        stabilityPercent: settings.stabilityPercent,
        stabilizingPercentile: settings.stabilizingPercentile,
        maxTrials: settings.maxTrials,
      });
      console.error(
        `    ${result.inferencesPerSecond.toFixed(2)} images/s, p50 ${(result.p50Us / 1000).toFixed(0)} ms, ` +
          `p99 ${(result.p99Us / 1000).toFixed(0)} ms`,
      );
      runs.push({ mode, result });
    } catch (error) {
      if (!(error instanceof PerfAnalyzerFailed)) throw error;
      const reason = error.message.split('\n').slice(-1)[0];
      console.error(`    no result: ${reason}`);
      runs.push({ mode, error: reason });
    }
  }
  return runs;
}

export interface GeneratorRows {
  label: string;
  autocannon: LoadSummary[];
  perfAnalyzer: PerfAnalyzerRun[];
}

const fixed = (value: number, digits: number) => (Number.isNaN(value) ? '-' : value.toFixed(digits));

/** Both tools' figures, medians over the rounds, one row per server and tool and mode. */
export function reportLoadGenerators(servers: GeneratorRows[], modes: PerfAnalyzerMode[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  console.log(
    `\n${'server'.padEnd(14)}${'load'.padEnd(38)}${'images/s'.padStart(9)}${'p50 ms'.padStart(9)}` +
      `${'p90 ms'.padStart(9)}${'p99 ms'.padStart(9)}  runs (images/s)`,
  );
  const print = (label: string, load: string, figures: number[][], note = '') => {
    const [rate, p50, p90, p99] = figures.map((values) => median(values));
    rows.push({ server: label, load, imagesPerSecond: rate, p50Ms: p50, p90Ms: p90, p99Ms: p99, note });
    console.log(
      `${label.padEnd(14)}${load.padEnd(38)}${fixed(rate, 2).padStart(9)}${fixed(p50, 0).padStart(9)}` +
        `${fixed(p90, 0).padStart(9)}${fixed(p99, 0).padStart(9)}  ${note || figures[0].map((v) => v.toFixed(2)).join(', ')}`,
    );
  };
  for (const server of servers) {
    const a = server.autocannon;
    print(server.label, 'autocannon, HTTP, binary tensors', [
      a.map((s) => s.imagesPerSecond),
      a.map((s) => s.ok.p50Ms),
      [],
      a.map((s) => s.ok.p99Ms),
    ]);
    for (const mode of modes) {
      const mine = server.perfAnalyzer.filter((run) => run.mode === mode);
      const ok = mine.filter((run) => run.result).map((run) => run.result!);
      const why = mine.find((run) => !run.result);
      const note = ok.length ? '' : (why?.skipped ?? why?.error ?? 'not run');
      print(
        server.label,
        `perf_analyzer, ${MODE_LABEL[mode]}`,
        [
          ok.map((r) => r.inferencesPerSecond),
          ok.map((r) => r.p50Us / 1000),
          ok.map((r) => r.p90Us / 1000),
          ok.map((r) => r.p99Us / 1000),
        ],
        note,
      );
    }
  }
  return rows;
}
