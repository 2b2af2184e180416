// A soak of `vitorch serve`: steady load for `--duration` seconds (10 minutes by default) while the server's
// resident memory is sampled and its event-loop delay is read from its own /metrics (prom-client's
// nodejs_eventloop_lag_p99_seconds, which covers the time since the previous scrape: prom-client resets its
// histogram at every collection). Goals: memory flat (under 5% growth after the warm-up), event-loop delay p99
// under 20 ms in every window.
//
//   npm run bench:serve:soak -- [--duration 600] [--warmup 60] [--interval 5] [--clients 32]
//       [--dtype float32|bfloat16|int8] [--threads 2] [--max-batch 16] [--max-delay-ms 50] [--max-queue 64]
//
// `--duration 30 --warmup 10` is a smoke test. Prints the windows and writes bench/results/serve-soak.json.
import * as path from 'path';
import { root } from './bench-inputs';
import { describeCpu } from './cpu';
import { runLoad, summarize } from './load';
import { processTreeRss } from './process-rss';
import { fetchMetrics, metricValues } from './prometheus-text';
import { writeResults } from './results';
import { parseLoadFlags, startLoadServer } from './serve-load';
import { serverSettings, UsageError, wholeNumber } from './serve-options';

const resultsFile = path.join(root, 'bench', 'results', 'serve-soak.json');
const EVENT_LOOP_P99 = 'nodejs_eventloop_lag_p99_seconds';
const RSS_GROWTH_GOAL = 0.05;
const EVENT_LOOP_P99_GOAL_MS = 20;

interface Sample {
  seconds: number;
  rssBytes: number;
  eventLoopP99Ms: number | undefined;
  answered: number;
  error?: string;
}

async function main(): Promise<void> {
  const { values, durationSeconds, warmupSeconds, clients, dtype } = parseLoadFlags(process.argv.slice(2), {
    duration: { type: 'string', default: '600' },
    warmup: { type: 'string', default: '60' },
    interval: { type: 'string', default: '5' },
    clients: { type: 'string', default: '32' },
    dtype: { type: 'string', default: 'float32' },
  });
  const intervalSeconds = wholeNumber(values, 'interval');
  if (warmupSeconds >= durationSeconds) throw new UsageError('--warmup must be shorter than --duration');
  const settings = serverSettings(values, 2 * clients);
  const server = await startLoadServer(dtype, settings);
  const metricsUrl = server.metricsUrl as string;
  const samples: Sample[] = [];
  let load;
  try {
    // Starts the event-loop window at the load's start (prom-client's histogram resets at each scrape).
    await fetchMetrics(metricsUrl);
    const started = Date.now();
    console.error(`soak: ${clients} clients for ${durationSeconds} s; a sample every ${intervalSeconds} s`);
    const timer = setInterval(() => {
      const seconds = (Date.now() - started) / 1000;
      const rssBytes = processTreeRss(server.process.pid);
      fetchMetrics(metricsUrl).then(
        (text) => {
          const [p99] = metricValues(text, EVENT_LOOP_P99);
          const sample = { seconds, rssBytes, eventLoopP99Ms: p99 === undefined ? undefined : p99 * 1000, answered: 0 };
          samples.push(sample);
          if (samples.length % Math.max(1, Math.round(60 / intervalSeconds)) === 0) {
            console.error(
              `  ${seconds.toFixed(0)} s: RSS ${(rssBytes / 2 ** 20).toFixed(0)} MiB, event-loop p99 ` +
                `${sample.eventLoopP99Ms?.toFixed(1) ?? '?'} ms`,
            );
          }
        },
        (error) => samples.push({ seconds, rssBytes, eventLoopP99Ms: undefined, answered: 0, error: String(error) }),
      );
    }, intervalSeconds * 1000);
    const record = await runLoad({
      mode: 'closed',
      connections: clients,
      ...server.target,
      durationSeconds,
      timeoutSeconds: settings.timeoutMs / 1000,
    });
    clearInterval(timer);
    for (const sample of samples) {
      sample.answered = record.answers.filter(
        ([at, status]) => status === 200 && at <= started + sample.seconds * 1000,
      ).length;
    }
    load = summarize(record, warmupSeconds, record.startedAtMs + durationSeconds * 1000);
  } finally {
    await server.stop();
  }

  const afterWarmup = samples.filter((s) => s.seconds >= warmupSeconds);
  if (!afterWarmup.length)
    throw new Error('no sample after the warm-up: make --duration longer than --warmup by an --interval or more');
  const baseline = afterWarmup[0].rssBytes;
  const rssGrowth = {
    end: afterWarmup[afterWarmup.length - 1].rssBytes / baseline - 1,
    max: Math.max(...afterWarmup.map((s) => s.rssBytes)) / baseline - 1,
  };
  const delays = samples.map((s) => s.eventLoopP99Ms).filter((d): d is number => d !== undefined);
  const worstDelay = Math.max(...delays);
  const cpu = describeCpu();
  console.log(
    `\n${server.label} soak, ${durationSeconds} s at ${clients} clients; ${cpu.model} (family ${cpu.family ?? '?'}), ` +
      `${cpu.logicalCpus} logical CPUs; ${settings.threads} intra-op threads; max batch ${settings.maxBatch}\n`,
  );
  console.log(
    `throughput after the warm-up ${load.imagesPerSecond.toFixed(2)} images/s, p50 ${load.ok.p50Ms.toFixed(0)} ms, ` +
      `p99 ${load.ok.p99Ms.toFixed(0)} ms, ${load.errors} errors`,
  );
  console.log(
    `RSS at the end of the warm-up (${afterWarmup[0].seconds.toFixed(0)} s) ${(baseline / 2 ** 20).toFixed(1)} MiB; ` +
      `at the end ${(100 * rssGrowth.end).toFixed(2)}%, at most ${(100 * rssGrowth.max).toFixed(2)}% above it (goal < ${100 * RSS_GROWTH_GOAL}%)`,
  );
  console.log(
    `event-loop delay p99 per ${intervalSeconds} s window (prom-client's, which includes its sampling interval): ` +
      `median ${delays.length ? delays.sort((a, b) => a - b)[Math.floor(delays.length / 2)].toFixed(1) : '-'} ms, ` +
      `worst ${worstDelay.toFixed(1)} ms over ${delays.length} windows (goal < ${EVENT_LOOP_P99_GOAL_MS} ms in every one)`,
  );
  writeResults(
    resultsFile,
    {
      date: new Date().toISOString(),
      cpu,
      dtype,
      clients,
      durationSeconds,
      warmupSeconds,
      intervalSeconds,
      settings,
      load,
      rssGrowth,
      worstEventLoopP99Ms: worstDelay,
      samples,
    },
    { finalNewline: true },
  );
}

main().catch((error) => {
  console.error(error instanceof UsageError ? `serve-soak bench: ${error.message}` : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
