// Runs bench/load-process.ts in a child process and reads its answers as the serving benchmarks report them:
// throughput and latency over a measured window (after a warm-up), answers by status, errors.
import { execFile } from 'child_process';
import * as path from 'path';
import type { Answer, LoadRecord, LoadSpec } from './load-process';
import { percentile } from './stats';

const loadScript = path.join(__dirname, 'load-process.js');

export function runLoad(spec: LoadSpec): Promise<LoadRecord> {
  // A generous bound: the load ends by itself after its duration plus the slowest request's timeout.
  const limitMs = (spec.durationSeconds + spec.timeoutSeconds + 60) * 1000;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [loadScript, JSON.stringify(spec)],
      { timeout: limitMs, maxBuffer: 1 << 30 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`the load process failed: ${error.message}\n${stderr.slice(-2000)}`));
          return;
        }
        resolve(JSON.parse(stdout.trim().split('\n').pop() as string) as LoadRecord);
      },
    );
  });
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latencies(answers: Answer[]): LatencySummary {
  const ms = answers.map(([, , latency]) => latency);
  return {
    count: ms.length,
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
    maxMs: ms.length ? Math.max(...ms) : NaN,
  };
}

export interface LoadSummary {
  /** Length of the measured window: from the end of the warm-up to the end of the load. */
  windowSeconds: number;
  /** Steady throughput: images answered with 200 per second, from the server's batch completions inside the
   *  window (see completionRate). */
  imagesPerSecond: number;
  /** Images answered with 200 inside the window divided by its length: quantized by whole batches. */
  countedImagesPerSecond: number;
  /** Latency of the 200 answers completed inside the window. */
  ok: LatencySummary;
  /** Latency of the 503 answers over the whole run: each must be quick, whenever it came. */
  rejected: LatencySummary;
  /** Answers by HTTP status over the whole run, warm-up included. */
  byStatus: Record<string, number>;
  /** Over the whole run: answers other than 200, plus requests that got no answer (connection errors, timeouts). */
  errors: number;
  timeouts: number;
  skipped: number;
  errorMessages: string[];
}

// Answers of one batch reach the load process within a few milliseconds of one another; batches are seconds
// apart. A gap longer than this starts a new burst.
const BURST_GAP_MS = 100;

/**
 * Images per second from completion times (ms, one image each): the answers after the first burst divided by the
 * time from that burst to the last answer. Counting the answers inside a fixed window instead would move by a whole
 * batch depending on where the window's edges fall (one batch of 16 in 60 s is 0.27 images/s); measured from
 * burst to burst it is the server's period between batches, the quantity an offline batch timing gives. Undefined
 * when the answers form a single burst.
 */
export function completionRate(completions: number[]): number | undefined {
  const times = [...completions].sort((a, b) => a - b);
  let firstBurstEnd = 0;
  while (firstBurstEnd + 1 < times.length && times[firstBurstEnd + 1] - times[firstBurstEnd] <= BURST_GAP_MS)
    firstBurstEnd++;
  const after = times.length - 1 - firstBurstEnd;
  const span = times[times.length - 1] - times[firstBurstEnd];
  if (after <= 0 || !(span > 0)) return undefined;
  return (after * 1000) / span;
}

export function summarize(record: LoadRecord, warmupSeconds: number, windowEndMs = record.endedAtMs): LoadSummary {
  const windowStart = record.startedAtMs + warmupSeconds * 1000;
  const inWindow = record.answers.filter(([at]) => at >= windowStart && at <= windowEndMs);
  const windowSeconds = (windowEndMs - windowStart) / 1000;
  const byStatus: Record<string, number> = {};
  for (const [, status] of record.answers) byStatus[status] = (byStatus[status] ?? 0) + 1;
  const ok = inWindow.filter(([, status]) => status === 200);
  return {
    windowSeconds,
    imagesPerSecond: completionRate(ok.map(([at]) => at)) ?? ok.length / windowSeconds,
    countedImagesPerSecond: ok.length / windowSeconds,
    ok: latencies(ok),
    rejected: latencies(record.answers.filter(([, status]) => status === 503)),
    byStatus,
    errors: record.answers.length - (byStatus['200'] ?? 0) + record.errors,
    timeouts: record.timeouts,
    skipped: record.skipped,
    errorMessages: record.errorMessages,
  };
}
