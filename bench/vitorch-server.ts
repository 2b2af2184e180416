// `vitorch serve` as the benchmark's server under test: the package's own CLI in a process of its own, loaded with
// the benchmark checkpoint, answering the Open Inference Protocol with the binary tensor extension.
import * as fs from 'fs';
import * as path from 'path';
import { root } from './bench-inputs';
import { freePort } from './free-port';
import { SHORT_NAME } from './offline-throughput';
import type { ServedPrecision } from './offline-throughput';
import { binaryInferRequest, HEADER_LENGTH, logitsFromResponse } from './kserve-binary';
import { ServerProcess, temporaryDir } from './server-process';
import { ServerUnderTest } from './server-under-test';

const cli = path.join(root, 'dist', 'lib', 'cli', 'vitorch.js');
export const MODEL_NAME = 'vit';
// Loading 346 MB and the warm-up forward; bfloat16 converts the weights first, int8 quantizes them at the first forward.
const READY_TIMEOUT_MS = 180_000;

export interface VitorchServeOptions {
  weights: string;
  dtype: ServedPrecision;
  /** Intra-op threads (VITORCH_NUM_THREADS: `vitorch serve` has no flag for it). */
  threads: number;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
  /** The image every load request carries, [1, 3, 224, 224]. */
  image: Float32Array;
}

export async function startVitorchServer(options: VitorchServeOptions): Promise<ServerUnderTest> {
  const dir = temporaryDir('vitorch-serve-bench-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = [
    cli,
    'serve',
    '--weights',
    options.weights,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--model-name',
    MODEL_NAME,
    '--max-batch',
    String(options.maxBatch),
    '--max-delay-ms',
    String(options.maxDelayMs),
    '--max-queue',
    String(options.maxQueue),
    '--timeout-ms',
    String(options.timeoutMs),
    '--device',
    'cpu',
    '--dtype',
    options.dtype,
  ];
  const process_ = await ServerProcess.start({
    name: `vitorch serve (${options.dtype})`,
    command: process.execPath,
    args,
    logFile: path.join(dir, 'serve.log'),
    env: { ...process.env, VITORCH_NUM_THREADS: String(options.threads) },
    readyUrl: `${base}/v2/health/ready`,
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const inferUrl = `${base}/v2/models/${MODEL_NAME}/infer`;
  const request = binaryInferRequest(options.image, [1, 3, 224, 224]);
  const bodyFile = path.join(dir, 'request.bin');
  fs.writeFileSync(bodyFile, request.body);
  return {
    label: `vitorch ${SHORT_NAME[options.dtype]}`,
    process: process_,
    target: { url: inferUrl, headers: request.headers, bodyFile },
    format: 'KServe V2 REST, binary tensor extension (JSON header + 602 112 raw bytes in, binary logits out)',
    metricsUrl: `${base}/metrics`,
    async infer(image) {
      const one = binaryInferRequest(image, [1, 3, 224, 224]);
      const response = await fetch(inferUrl, { method: 'POST', headers: one.headers, body: one.body });
      const body = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200)
        throw new Error(`vitorch answered ${response.status}: ${body.toString('utf8').slice(0, 300)}`);
      return logitsFromResponse(body, response.headers.get(HEADER_LENGTH) ?? undefined);
    },
    threads: () => options.threads,
    stop: () => process_.stop(),
  };
}
