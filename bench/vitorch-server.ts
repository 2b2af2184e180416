// `vitorch serve` as the benchmark's server under test: the package's own CLI in a process of its own, loaded with
// the benchmark checkpoint (or the embedded model), answering the Open Inference Protocol with the binary tensor
// extension, and over gRPC too where asked and where this build of the CLI has the flag.
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
const GRPC_FLAG = '--grpc-port';

export interface VitorchServeOptions {
  /** The checkpoint; none serves the embedded Fashion-MNIST model. */
  weights?: string;
  dtype: ServedPrecision;
  /** Intra-op threads (VITORCH_NUM_THREADS: `vitorch serve` has no flag for it). */
  threads: number;
  /** The batcher's flags; each one left out keeps the server's own default. */
  maxBatch?: number;
  maxDelayMs?: number;
  maxQueue?: number;
  timeoutMs?: number;
  /** The image every load request carries, one sample of the model's input. */
  image: Float32Array;
  /** Its shape: [1, 3, 224, 224] (ViT-B/16) unless given. */
  imageShape?: number[];
  /** Also serve gRPC (`--grpc-port`) for perf_analyzer; a CLI without the flag is started without it, and the
   *  server's perfAnalyzer.grpcMissing says why. */
  grpc?: boolean;
}

export async function startVitorchServer(options: VitorchServeOptions): Promise<ServerUnderTest> {
  const dir = temporaryDir('vitorch-serve-bench-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const shape = options.imageShape ?? [1, 3, 224, 224];
  const args = [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--model-name', MODEL_NAME];
  if (options.weights !== undefined) args.push('--weights', options.weights);
  const flags: [string, number | undefined][] = [
    ['--max-batch', options.maxBatch],
    ['--max-delay-ms', options.maxDelayMs],
    ['--max-queue', options.maxQueue],
    ['--timeout-ms', options.timeoutMs],
  ];
  for (const [flag, value] of flags) if (value !== undefined) args.push(flag, String(value));
  args.push('--device', 'cpu', '--dtype', options.dtype);
  const start = (extra: string[]) =>
    ServerProcess.start({
      name: `vitorch serve (${options.dtype})`,
      command: process.execPath,
      args: [...args, ...extra],
      logFile: path.join(dir, 'serve.log'),
      env: { ...process.env, VITORCH_NUM_THREADS: String(options.threads) },
      readyUrl: `${base}/v2/health/ready`,
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
  let process_: ServerProcess;
  let grpcPort: number | undefined;
  let grpcMissing: string | undefined;
  if (options.grpc) {
    grpcPort = await freePort();
    try {
      process_ = await start([GRPC_FLAG, String(grpcPort)]);
    } catch (error) {
      // A usage error exits before the model loads, so trying again without the flag costs little. Its line
      // names the flag ("vitorch serve: unknown option --grpc-port"); the usage line after it is not the reason.
      const refusal = (error as Error).message
        .split('\n')
        .find((line) => line.includes(GRPC_FLAG) && !line.startsWith('usage:'));
      if (!refusal || !(error as Error).message.includes('exited before it was ready')) throw error;
      grpcMissing = `the server refuses ${GRPC_FLAG}: ${refusal.trim()}`;
      grpcPort = undefined;
      process_ = await start([]);
    }
  } else {
    process_ = await start([]);
  }
  const inferUrl = `${base}/v2/models/${MODEL_NAME}/infer`;
  const request = binaryInferRequest(options.image, shape);
  const bodyFile = path.join(dir, 'request.bin');
  fs.writeFileSync(bodyFile, request.body);
  return {
    label: `vitorch ${SHORT_NAME[options.dtype]}`,
    process: process_,
    target: { url: inferUrl, headers: request.headers, bodyFile },
    format:
      'KServe V2 REST, binary tensor extension ' +
      `(JSON header + ${options.image.byteLength.toLocaleString('en-US').replace(/,/g, ' ')} raw bytes in, binary logits out)`,
    metricsUrl: `${base}/metrics`,
    async infer(image) {
      const one = binaryInferRequest(image, shape);
      const response = await fetch(inferUrl, { method: 'POST', headers: one.headers, body: one.body });
      const body = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200)
        throw new Error(`vitorch answered ${response.status}: ${body.toString('utf8').slice(0, 300)}`);
      return logitsFromResponse(body, response.headers.get(HEADER_LENGTH) ?? undefined);
    },
    perfAnalyzer: {
      model: MODEL_NAME,
      http: `127.0.0.1:${port}`,
      grpc: grpcPort === undefined ? undefined : `127.0.0.1:${grpcPort}`,
      grpcMissing: options.grpc ? grpcMissing : undefined,
    },
    threads: () => options.threads,
    stop: () => process_.stop(),
  };
}
