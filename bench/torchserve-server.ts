// TorchServe as the peer server under test: bench/torchserve/handler.py (the article's model in PyTorch's fastest
// eager form) archived with the benchmark checkpoint by torch-model-archiver, one worker, TorchServe's own
// batching, in a temporary model store; the frontend's ports are free ones on the loopback interface.
//
// The request format is TorchServe's own /predictions/{model} API with the raw float32 image as the body, not its
// KServe v2 mode: that mode's envelope (ts/torch_handler/request_envelope/kservev2.py in 0.12.0) takes JSON `data`
// only (no binary tensor extension) and reads the first request of a batch only, so it cannot batch at all.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { root } from './bench-inputs';
import { freePort } from './free-port';
import { ServerProcess, temporaryDir } from './server-process';
import { ServerUnderTest } from './server-under-test';

const MODEL_NAME = 'vit';
const handler = path.join(root, 'bench', 'torchserve', 'handler.py');
// The handler imports these two; the archive carries them beside it.
const extraFiles = [path.join(root, 'bench', 'inference_torch.py'), path.join(root, 'tools', 'reference_vit.py')];
// The JVM, then the worker loads 346 MB and runs one warm-up forward.
const READY_TIMEOUT_MS = 240_000;

export interface TorchServeOptions {
  python: string;
  weights: string;
  threads: number;
  /** TorchServe's batchSize and maxBatchDelay (ms). */
  maxBatch: number;
  maxDelayMs: number;
  /** job_queue_size: requests the frontend holds per model before it answers 503. */
  maxQueue: number;
  image: Float32Array;
  /** A library for LD_PRELOAD (bench/mkl_feature_dispatch.c: MKL picks its kernels by CPU features). */
  preload?: string;
}

/** torchserve and torch-model-archiver are console scripts beside the interpreter that has them. */
function script(python: string, name: string): string {
  const beside = path.join(path.dirname(python), name);
  return fs.existsSync(beside) ? beside : name;
}

export function torchServeMissing(python: string): string | undefined {
  const probe = spawnSync(python, ['-c', 'import ts, model_archiver; print(ts.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return `TorchServe is not installed for ${python} (pip install -r bench/requirements-torchserve.txt)`;
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.status !== 0) return 'TorchServe needs Java 17 or newer on PATH; there is no `java`';
  return undefined;
}

export async function startTorchServe(options: TorchServeOptions): Promise<ServerUnderTest> {
  const dir = temporaryDir('vitorch-torchserve-bench-');
  const store = path.join(dir, 'model-store');
  const logs = path.join(dir, 'logs');
  const javaTmp = path.join(dir, 'tmp'); // where the frontend unpacks the archive and puts its worker sockets
  for (const folder of [store, logs, javaTmp]) fs.mkdirSync(folder);
  const modelConfig = path.join(dir, 'model-config.yaml');
  fs.writeFileSync(
    modelConfig,
    [
      'minWorkers: 1',
      'maxWorkers: 1',
      `batchSize: ${options.maxBatch}`,
      `maxBatchDelay: ${options.maxDelayMs}`,
      'responseTimeout: 300',
      '',
    ].join('\n'),
  );
  const archived = spawnSync(
    script(options.python, 'torch-model-archiver'),
    [
      '--model-name',
      MODEL_NAME,
      '--version',
      '1.0',
      '--handler',
      handler,
      '--serialized-file',
      options.weights,
      '--extra-files',
      extraFiles.join(','),
      '--config-file',
      modelConfig,
      '--export-path',
      store,
      // Stored, not deflated: the weights do not compress and deflating 346 MB takes a while.
      '--archive-format',
      'zip-store',
    ],
    { encoding: 'utf8' },
  );
  if (archived.status !== 0) throw new Error(`torch-model-archiver failed: ${archived.stderr || archived.error}`);

  const [inferencePort, managementPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(dir, 'config.properties');
  fs.writeFileSync(
    config,
    [
      `inference_address=http://127.0.0.1:${inferencePort}`,
      `management_address=http://127.0.0.1:${managementPort}`,
      `metrics_address=http://127.0.0.1:${metricsPort}`,
      `model_store=${store}`,
      `job_queue_size=${options.maxQueue}`,
      'default_workers_per_model=1',
      // The host metrics collector is a Python process started every minute: noise on a 2-core machine.
      'disable_system_metrics=true',
      `vmargs=-Djava.io.tmpdir=${javaTmp}`,
      '',
    ].join('\n'),
  );
  const base = `http://127.0.0.1:${inferencePort}`;
  const process_ = await ServerProcess.start({
    name: 'TorchServe',
    command: script(options.python, 'torchserve'),
    args: [
      '--start',
      '--foreground',
      '--ncs',
      '--disable-token-auth',
      '--ts-config',
      config,
      '--model-store',
      store,
      '--models',
      `${MODEL_NAME}=${MODEL_NAME}.mar`,
    ],
    cwd: dir,
    logFile: path.join(dir, 'torchserve.log'),
    env: {
      ...process.env,
      LOG_LOCATION: logs,
      METRICS_LOCATION: logs,
      VITORCH_BENCH_THREADS: String(options.threads),
      ...(options.preload ? { LD_PRELOAD: options.preload } : {}),
    },
    readyUrl: `http://127.0.0.1:${managementPort}/models/${MODEL_NAME}`,
    isReady: (status, body) => status === 200 && body.includes('"READY"'),
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const inferUrl = `${base}/predictions/${MODEL_NAME}`;
  const bodyFile = path.join(dir, 'request.bin');
  const raw = (image: Float32Array) => Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  fs.writeFileSync(bodyFile, raw(options.image));
  const headers = { 'content-type': 'application/octet-stream' };
  return {
    label: options.preload ? 'TorchServe fp32 FD' : 'TorchServe fp32',
    process: process_,
    target: { url: inferUrl, headers, bodyFile },
    format:
      'TorchServe /predictions/vit, raw float32 body (602 112 bytes in, 4 000 raw bytes of logits out)' +
      (options.preload ? `; LD_PRELOAD=${path.basename(options.preload)} (MKL feature dispatch)` : ''),
    async infer(image) {
      const response = await fetch(inferUrl, { method: 'POST', headers, body: raw(image) });
      const body = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200)
        throw new Error(`TorchServe answered ${response.status}: ${body.toString('utf8').slice(0, 300)}`);
      return new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    },
    threads() {
      // handler.py logs the thread count torch runs with once it is ready.
      const log = fs.readFileSync(path.join(logs, 'model_log.log'), 'utf8');
      const match = /vitorch-bench handler ready: .*?, (\d+) intra-op threads/.exec(log);
      return match ? Number(match[1]) : undefined;
    },
    stop: () => process_.stop(),
  };
}
