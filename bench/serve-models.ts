// Two models in one `vitorch serve`: how long a small model's requests take while a ViT-B/16 beside it is saturated.
// Both share the one native compute thread, whose queue is first come, first served, and each model's batcher has
// at most one batch there at a time (lib/server/model-repository.ts): so a small request should wait behind at most
// one ViT-B/16 batch. This measures it. Each round: the small model alone (one closed-loop client), then the same
// client while `--clients` closed-loop clients saturate the ViT-B/16; the bound printed beside the figures is the
// small model's own p99 plus the longest ViT-B/16 batch the server timed (vitorch_compute_duration_seconds).
//
//   npm run build:ts && node dist/bench/serve-models.js [--runs 3] [--duration 20] [--warmup 5] [--clients 16]
//       [--threads 2] [--max-batch 8]
import * as fs from 'fs';
import * as path from 'path';
import { defaultModelDir } from '../lib/classifier';
import { ensureCheckpoint, findPython, IMAGE_VALUES, normalImages, root } from './bench-inputs';
import { describeCpu } from './cpu';
import { freePort } from './free-port';
import { binaryInferRequest } from './kserve-binary';
import { runLoad, summarize } from './load';
import type { LoadSummary } from './load';
import { fetchMetrics } from './prometheus-text';
import { writeResults } from './results';
import { integerFlag, parseArgs, runMain } from './run-main';
import { ServerProcess, temporaryDir } from './server-process';
import { median } from './stats';

const cli = path.join(root, 'dist', 'lib', 'cli', 'vitorch.js');

interface Round {
  smallAlone: LoadSummary;
  smallBeside: LoadSummary;
  big: LoadSummary;
  /** Beside the big model, per small request: ms in its queue, and ms of its batch on the compute thread. */
  smallQueueMs: number;
  smallComputeMs: number;
  /** The longest and the mean ViT-B/16 forward pass, seconds, from the server's histogram. */
  bigBatchMaxSeconds: number;
  bigBatchMeanSeconds: number;
}

/** A model repository of two folders: `big` (ViT-B/16, the benchmark checkpoint linked) and `small` (the embedded
 *  Fashion-MNIST model linked). */
function makeRepository(checkpoint: string): string {
  const repository = temporaryDir('vitorch-serve-models-');
  const big = path.join(repository, 'big');
  const small = path.join(repository, 'small');
  fs.mkdirSync(big);
  fs.mkdirSync(small);
  const classes = Array.from({ length: 1000 }, (_, i) => String(i));
  fs.writeFileSync(path.join(big, 'config.json'), JSON.stringify({ model: {}, classes }));
  fs.symlinkSync(path.resolve(checkpoint), path.join(big, 'weights.pth'));
  for (const file of ['config.json', 'weights.pth']) {
    fs.symlinkSync(path.join(defaultModelDir(), file), path.join(small, file));
  }
  return repository;
}

async function startServer(repository: string, threads: number, maxBatch: number) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = temporaryDir('vitorch-serve-models-log-');
  const server = await ServerProcess.start({
    name: 'vitorch serve (two models)',
    command: process.execPath,
    args: [
      cli,
      'serve',
      '--model-repository',
      repository,
      '--port',
      String(port),
      '--no-grpc',
      '--max-batch',
      String(maxBatch),
    ],
    logFile: path.join(dir, 'serve.log'),
    env: { ...process.env, VITORCH_NUM_THREADS: String(threads) },
    readyUrl: `${base}/v2/health/ready`,
    readyTimeoutMs: 180_000,
  });
  return { server, base };
}

function requestFile(dir: string, name: string, values: Float32Array, shape: number[]) {
  const request = binaryInferRequest(values, shape);
  const bodyFile = path.join(dir, `${name}.bin`);
  fs.writeFileSync(bodyFile, request.body);
  return { headers: request.headers, bodyFile };
}

/** The small model's Triton statistics (GET /v2/models/small/stats): inference_stats by name. */
async function smallStatistics(base: string): Promise<Record<string, { count: number; ns: number }>> {
  const response = await fetch(`${base}/v2/models/small/stats`);
  const body = (await response.json()) as {
    model_stats: { inference_stats: Record<string, { count: number; ns: number }> }[];
  };
  return body.model_stats[0].inference_stats;
}

async function round(
  repository: string,
  options: { threads: number; maxBatch: number; clients: number; duration: number; warmup: number },
): Promise<Round> {
  const { server, base } = await startServer(repository, options.threads, options.maxBatch);
  try {
    const dir = temporaryDir('vitorch-serve-models-bodies-');
    const small = requestFile(dir, 'small', normalImages(28 * 28), [1, 1, 28, 28]);
    const big = requestFile(dir, 'big', normalImages(IMAGE_VALUES), [1, 3, 224, 224]);
    const load = (model: string, body: typeof small, connections: number) =>
      runLoad({
        url: `${base}/v2/models/${model}/infer`,
        ...body,
        durationSeconds: options.warmup + options.duration,
        timeoutSeconds: 120,
        mode: 'closed',
        connections,
      });
    const smallAlone = summarize(await load('small', small, 1), options.warmup);
    const before = await smallStatistics(base);
    const [smallBeside, bigLoad] = await Promise.all([load('small', small, 1), load('big', big, options.clients)]);
    const after = await smallStatistics(base);
    // Per request of the small model beside the big one: waiting in its own queue, and its batch's time from being
    // handed to the compute thread to its logits (which includes waiting there behind the big model's batch).
    const perRequest = (key: string) =>
      (after[key].ns - before[key].ns) / 1e6 / Math.max(1, after[key].count - before[key].count);
    const metrics = await fetchMetrics(`${base}/metrics`);
    // The histogram's largest bucket that a batch fell into bounds the longest batch from above.
    const buckets = metrics
      .split('\n')
      .filter((line) => line.startsWith('vitorch_compute_duration_seconds_bucket{') && line.includes('model="big"'))
      .map((line) => {
        const le = /le="([^"]+)"/.exec(line)![1];
        return { le: le === '+Inf' ? Infinity : Number(le), count: Number(line.split(' ').pop()) };
      });
    const total = buckets.find((b) => b.le === Infinity)?.count ?? 0;
    const smallestAll = buckets.filter((b) => b.count === total).sort((a, b) => a.le - b.le)[0]?.le ?? NaN;
    const sumLine = metrics
      .split('\n')
      .find((line) => line.startsWith('vitorch_compute_duration_seconds_sum{') && line.includes('model="big"'));
    const sum = sumLine ? Number(sumLine.split(' ').pop()) : NaN;
    return {
      smallAlone,
      smallBeside: summarize(smallBeside, options.warmup),
      big: summarize(bigLoad, options.warmup),
      smallQueueMs: perRequest('queue'),
      smallComputeMs: perRequest('compute_infer'),
      bigBatchMaxSeconds: smallestAll,
      bigBatchMeanSeconds: sum / total,
    };
  } finally {
    await server.stop();
  }
}

runMain('serve-models', async () => {
  const parsed = parseArgs(
    process.argv.slice(2),
    ['runs', 'duration', 'warmup', 'clients', 'threads', 'max-batch'],
    [],
    { overrides: false, positionals: false },
  );
  const options = {
    runs: integerFlag(parsed, 'runs', 1) ?? 3,
    duration: integerFlag(parsed, 'duration', 1) ?? 20,
    warmup: integerFlag(parsed, 'warmup', 0) ?? 5,
    clients: integerFlag(parsed, 'clients', 1) ?? 16,
    threads: integerFlag(parsed, 'threads', 1) ?? 2,
    maxBatch: integerFlag(parsed, 'max-batch', 1) ?? 8,
  };
  const repository = makeRepository(ensureCheckpoint(findPython()));
  const rounds: Round[] = [];
  for (let i = 0; i < options.runs; i++) {
    const r = await round(repository, options);
    rounds.push(r);
    console.error(
      `round ${i + 1}: small alone p99 ${r.smallAlone.ok.p99Ms.toFixed(1)} ms; beside a saturated ViT-B/16 ` +
        `p50 ${r.smallBeside.ok.p50Ms.toFixed(1)} p99 ${r.smallBeside.ok.p99Ms.toFixed(1)} ms; ` +
        `ViT-B/16 ${r.big.imagesPerSecond.toFixed(2)} img/s, batches ${(r.bigBatchMeanSeconds * 1000).toFixed(0)} ms mean`,
    );
  }
  const m = (pick: (r: Round) => number) => median(rounds.map(pick));
  const rows = [
    [
      'small model alone, p50 / p99 ms',
      `${m((r) => r.smallAlone.ok.p50Ms).toFixed(1)} / ${m((r) => r.smallAlone.ok.p99Ms).toFixed(1)}`,
    ],
    [
      'small model beside a saturated ViT-B/16, p50 / p99 ms',
      `${m((r) => r.smallBeside.ok.p50Ms).toFixed(1)} / ${m((r) => r.smallBeside.ok.p99Ms).toFixed(1)}`,
    ],
    ['small model beside it, requests/s', m((r) => r.smallBeside.imagesPerSecond).toFixed(1)],
    [
      'small model beside it, per request: queued / batch on the compute thread, ms',
      `${m((r) => r.smallQueueMs).toFixed(1)} / ${m((r) => r.smallComputeMs).toFixed(1)}`,
    ],
    ['ViT-B/16 images/s (saturated)', m((r) => r.big.imagesPerSecond).toFixed(2)],
    ['ViT-B/16 batch, mean ms', (m((r) => r.bigBatchMeanSeconds) * 1000).toFixed(0)],
    [
      'bound: small p99 alone + longest ViT-B/16 batch (histogram bucket), ms',
      m((r) => r.smallAlone.ok.p99Ms + r.bigBatchMaxSeconds * 1000).toFixed(0),
    ],
  ];
  const cpu = describeCpu();
  console.log(
    `CPU: ${cpu.model} (${cpu.logicalCpus} logical); ${options.threads} threads, max batch ${options.maxBatch}, ${options.clients} ViT-B/16 clients, medians of ${options.runs} rounds`,
  );
  for (const [label, value] of rows) console.log(`${label.padEnd(72)} ${value}`);
  writeResults(path.join(root, 'bench', 'results', 'serve-models.json'), { options, rounds });
});
