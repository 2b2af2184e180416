// perf_analyzer, Triton's load generator, as the serving benchmarks and test/server-perf-analyzer.test.ts drive it:
// found where tools/install-perf-analyzer.sh put it, run against an Open Inference Protocol server at one
// concurrency (closed loop: each of N workers sends its next request when its last is answered), its report read
// (bench/perf-analyzer-report.ts). Asynchronous, so that a server in the same process keeps answering.
import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parsePerfAnalyzerCsv, parseRequestCounts } from './perf-analyzer-report';
import type { PerfAnalyzerRow } from './perf-analyzer-report';

/** The installer, relative to the checkout (the one place its versions are pinned). */
export const INSTALLER = 'tools/install-perf-analyzer.sh';
// This file runs from dist/bench/ when compiled and from bench/ under ts-jest.
const checkout = [path.join(__dirname, '..', '..'), path.join(__dirname, '..')].find((dir) =>
  fs.existsSync(path.join(dir, INSTALLER)),
);

export class PerfAnalyzerMissing extends Error {}

/** The perf_analyzer command: $VITORCH_PERF_ANALYZER where set, else what the installer says it installed. Throws
 *  PerfAnalyzerMissing, naming the installer, when there is none. */
export function perfAnalyzerPath(): string {
  const fromEnvironment = process.env.VITORCH_PERF_ANALYZER;
  if (fromEnvironment) {
    if (!fs.existsSync(fromEnvironment))
      throw new PerfAnalyzerMissing(`VITORCH_PERF_ANALYZER names ${fromEnvironment}, which does not exist`);
    return fromEnvironment;
  }
  if (checkout === undefined) throw new PerfAnalyzerMissing(`no ${INSTALLER} above ${__dirname}`);
  const run = spawnSync('bash', [path.join(checkout, INSTALLER), '--path'], { encoding: 'utf8' });
  const found = run.stdout?.trim();
  if (run.status !== 0 || !found) {
    // The installer's own line names where it looked and itself.
    throw new PerfAnalyzerMissing(
      run.stderr?.trim() || `perf_analyzer is not installed (${run.error?.message}): run bash ${INSTALLER}`,
    );
  }
  return found;
}

export interface PerfAnalyzerOptions {
  model: string;
  /** HOST:PORT of the HTTP or gRPC endpoint. */
  url: string;
  protocol: 'http' | 'grpc';
  /** How tensors travel over HTTP (binary tensor extension or JSON `data`); gRPC always carries raw bytes. */
  inputFormat?: 'binary' | 'json';
  outputFormat?: 'binary' | 'json';
  concurrency: number;
  /** Length of one measurement window. perf_analyzer measures windows until three in a row agree within
   *  `stabilityPercent` (throughput and latency), at most `maxTrials` of them. */
  measurementIntervalMs: number;
  /** The latency the windows must agree on: this percentile, or the mean (perf_analyzer's default) when unset. A
   *  median is not moved by the few requests that wait out another process on a shared machine; a mean is. */
  stabilizingPercentile?: number;
  /** Default 10, perf_analyzer's. */
  stabilityPercent?: number;
  /** Default 10, perf_analyzer's. */
  maxTrials?: number;
  /** The run is killed after this long (default: the longest the windows can take, plus a minute). */
  timeoutMs?: number;
}

export interface PerfAnalyzerResult extends PerfAnalyzerRow {
  /** Requests completed in the windows reported. */
  requestCount: number;
  /** The arguments given to perf_analyzer. */
  args: string[];
}

export class PerfAnalyzerFailed extends Error {
  constructor(
    message: string,
    /** perf_analyzer's console output, stdout then stderr. */
    readonly output: string,
  ) {
    super(message);
  }
}

export function perfAnalyzerArgs(options: PerfAnalyzerOptions, csvFile: string): string[] {
  const args = [
    '-m',
    options.model,
    '-u',
    options.url,
    '-i',
    options.protocol,
    '--concurrency-range',
    String(options.concurrency),
    '--measurement-interval',
    String(options.measurementIntervalMs),
    '--stability-percentage',
    String(options.stabilityPercent ?? 10),
    '--max-trials',
    String(options.maxTrials ?? 10),
    '-f',
    csvFile,
  ];
  if (options.stabilizingPercentile !== undefined) args.push('--percentile', String(options.stabilizingPercentile));
  if (options.protocol === 'http') {
    args.push('--input-tensor-format', options.inputFormat ?? 'binary');
    args.push('--output-tensor-format', options.outputFormat ?? 'binary');
  }
  return args;
}

/** One perf_analyzer measurement. Rejects with PerfAnalyzerFailed (its output's last lines in the message) when it
 *  exits non-zero, e.g. when no three windows agree ("Failed to obtain stable measurement"). */
export async function runPerfAnalyzer(options: PerfAnalyzerOptions): Promise<PerfAnalyzerResult> {
  const command = perfAnalyzerPath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-perf-analyzer-'));
  try {
    const csvFile = path.join(dir, 'report.csv');
    const args = perfAnalyzerArgs(options, csvFile);
    // Each trial is one window plus the requests still in flight at its end.
    const timeoutMs = options.timeoutMs ?? ((options.maxTrials ?? 10) + 2) * options.measurementIntervalMs + 60_000;
    const { code, output, stdout } = await new Promise<{ code: number | string; output: string; stdout: string }>(
      (resolve) => {
        execFile(command, args, { timeout: timeoutMs, maxBuffer: 1 << 26 }, (error, out, err) => {
          // A non-zero exit leaves its status in code; a kill (the timeout) its signal.
          const code = error ? (error.code ?? error.signal ?? 'failed') : 0;
          resolve({ code, output: `${out}${err}`, stdout: out });
        });
      },
    );
    if (code !== 0) {
      const tail = output.trim().split('\n').slice(-6).join('\n');
      throw new PerfAnalyzerFailed(`perf_analyzer ${args.join(' ')} exited ${code}:\n${tail}`, output);
    }
    const [row] = parsePerfAnalyzerCsv(fs.readFileSync(csvFile, 'utf8'));
    const requestCount = parseRequestCounts(stdout).get(row.concurrency);
    if (requestCount === undefined)
      throw new PerfAnalyzerFailed('perf_analyzer printed no "Request count" for its measurement', output);
    return { ...row, requestCount, args };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Why perf_analyzer cannot run here, or undefined when it can: for a benchmark that leaves it out and says so. */
export function perfAnalyzerMissing(): string | undefined {
  try {
    perfAnalyzerPath();
    return undefined;
  } catch (error) {
    if (error instanceof PerfAnalyzerMissing) return error.message;
    throw error;
  }
}
