// `vitorch serve` at 4x its capacity with a bounded queue: every request must get its logits or a quick 503, the
// server's memory must stay bounded, and once the overload is over the throughput must be what it was.
//
//   1. normal    `--clients` closed-loop clients (autocannon): the capacity C in images/s
//   2. overload  arrivals at `--factor` x C per second, open loop (they do not wait for answers, as real users
//                beyond capacity do not), for the same duration; resident memory sampled every second
//   3. recovery  the normal load again: its throughput against the first phase's
//
//   npm run bench:serve:overload -- [--duration 60] [--warmup 15] [--clients 32] [--factor 4] [--max-queue 48]
//       [--dtype float32|bfloat16|int8] [--threads 2] [--max-batch 16] [--max-delay-ms 50] [--timeout-ms 120000]
//
// Prints the three phases and writes bench/results/serve-overload.json.
import * as path from 'path';
import { root } from './bench-inputs';
import { describeCpu } from './cpu';
import { runLoad, summarize, LoadSummary } from './load';
import { sampleRss, RssSample } from './process-rss';
import { writeResults } from './results';
import { parseLoadFlags, startLoadServer } from './serve-load';
import { serverSettings, UsageError, wholeNumber } from './serve-options';

const resultsFile = path.join(root, 'bench', 'results', 'serve-overload.json');
const REJECTION_P99_GOAL_MS = 50;
const RECOVERY_GOAL = 0.9;
// Connections the open-loop client may hold at once: far more than the server's queue can, so that it never limits
// the offered load (an arrival beyond it would be counted as skipped).
const MAX_IN_FLIGHT = 1024;

interface Phase {
  name: string;
  load: LoadSummary;
  rss: RssSample[];
}

const mib = (bytes: number) => bytes / 2 ** 20;
const maxRss = (samples: RssSample[]) => Math.max(...samples.map((s) => s.bytes));

async function main(): Promise<void> {
  const { values, durationSeconds, warmupSeconds, clients, dtype } = parseLoadFlags(process.argv.slice(2), {
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '15' },
    clients: { type: 'string', default: '32' },
    factor: { type: 'string', default: '4' },
    dtype: { type: 'string', default: 'float32' },
  });
  const factor = wholeNumber(values, 'factor');
  // Room for every normal-load client and one batch more: the normal load never sees a 503, the overload soon does.
  const settings = serverSettings(values, clients + wholeNumber(values, 'max-batch'));
  const server = await startLoadServer(dtype, settings);
  const phases: Phase[] = [];
  try {
    const closed = async (name: string) => {
      console.error(`${name}: ${clients} clients, ${warmupSeconds} + ${durationSeconds} s`);
      const rss = sampleRss(server.process.pid, 1000);
      const record = await runLoad({
        mode: 'closed',
        connections: clients,
        ...server.target,
        durationSeconds: warmupSeconds + durationSeconds,
        timeoutSeconds: settings.timeoutMs / 1000,
      });
      const load = summarize(record, warmupSeconds, record.startedAtMs + (warmupSeconds + durationSeconds) * 1000);
      phases.push({ name, load, rss: rss.stop() });
      console.error(
        `  ${load.imagesPerSecond.toFixed(2)} images/s, p99 ${load.ok.p99Ms.toFixed(0)} ms, ${load.errors} errors`,
      );
      return load;
    };
    const normal = await closed('normal');
    const rate = factor * normal.imagesPerSecond;
    console.error(
      `overload: ${rate.toFixed(1)} arrivals/s (${factor}x ${normal.imagesPerSecond.toFixed(2)}) for ${durationSeconds} s`,
    );
    const rss = sampleRss(server.process.pid, 1000);
    const record = await runLoad({
      mode: 'open',
      rate,
      maxInFlight: MAX_IN_FLIGHT,
      ...server.target,
      durationSeconds,
      timeoutSeconds: settings.timeoutMs / 1000,
    });
    // No warm-up: the whole overload is the point. Throughput over the arrivals' duration, not the drain after it.
    phases.push({
      name: 'overload',
      load: summarize(record, 0, record.startedAtMs + durationSeconds * 1000),
      rss: rss.stop(),
    });
    await closed('recovery');
  } finally {
    await server.stop();
  }

  const [normal, overload, recovery] = phases;
  const cpu = describeCpu();
  console.log(
    `\n${server.label} at ${factor}x capacity; ${cpu.model} (family ${cpu.family ?? '?'}), ${cpu.logicalCpus} logical CPUs; ` +
      `${settings.threads} intra-op threads; max batch ${settings.maxBatch}, max delay ${settings.maxDelayMs} ms, ` +
      `max queue ${settings.maxQueue}\n`,
  );
  console.log(
    `${'phase'.padEnd(10)}${'images/s'.padStart(10)}${'200 p99 ms'.padStart(12)}${'503s'.padStart(7)}` +
      `${'503 p50 ms'.padStart(12)}${'503 p99 ms'.padStart(12)}${'other'.padStart(7)}${'RSS max MiB'.padStart(13)}`,
  );
  for (const phase of phases) {
    const { load } = phase;
    const other = load.errors - (load.byStatus['503'] ?? 0);
    console.log(
      `${phase.name.padEnd(10)}${load.imagesPerSecond.toFixed(2).padStart(10)}${load.ok.p99Ms.toFixed(0).padStart(12)}` +
        `${String(load.byStatus['503'] ?? 0).padStart(7)}${(load.rejected.count ? load.rejected.p50Ms.toFixed(1) : '-').padStart(12)}` +
        `${(load.rejected.count ? load.rejected.p99Ms.toFixed(1) : '-').padStart(12)}${String(other).padStart(7)}` +
        `${mib(maxRss(phase.rss)).toFixed(0).padStart(13)}`,
    );
  }
  const unanswered = overload.load.errors - (overload.load.byStatus['503'] ?? 0);
  const verdicts = {
    everyRequestAnswered: unanswered === 0 && overload.load.skipped === 0,
    rejectionP99Ms: overload.load.rejected.p99Ms,
    rejectionP99UnderGoal: overload.load.rejected.count > 0 && overload.load.rejected.p99Ms < REJECTION_P99_GOAL_MS,
    rssGrowthDuringOverload: maxRss(overload.rss) / maxRss(normal.rss) - 1,
    recoveryRatio: recovery.load.imagesPerSecond / normal.load.imagesPerSecond,
  };
  console.log(
    `\nduring the overload: ${overload.load.byStatus['200'] ?? 0} answered 200, ${overload.load.byStatus['503'] ?? 0} ` +
      `answered 503, ${unanswered} neither (goal 0), ${overload.load.skipped} not sent; statuses ${JSON.stringify(overload.load.byStatus)}`,
  );
  console.log(
    `503 p99 ${verdicts.rejectionP99Ms.toFixed(1)} ms (goal < ${REJECTION_P99_GOAL_MS} ms); RSS max ` +
      `${(100 * verdicts.rssGrowthDuringOverload).toFixed(1)}% above the normal phase's; recovery ${verdicts.recoveryRatio.toFixed(2)}x ` +
      `the normal throughput (goal >= ${RECOVERY_GOAL})`,
  );
  if (overload.load.errorMessages.length) console.log(`client errors: ${overload.load.errorMessages.join('; ')}`);
  writeResults(
    resultsFile,
    {
      date: new Date().toISOString(),
      cpu,
      dtype,
      factor,
      clients,
      durationSeconds,
      warmupSeconds,
      settings,
      verdicts,
      phases,
    },
    { finalNewline: true },
  );
}

main().catch((error) => {
  console.error(error instanceof UsageError ? `serve-overload bench: ${error.message}` : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
