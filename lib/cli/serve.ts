// `vitorch serve [--weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E]
//   [--model-name vit] | --model-repository DIR | --model NAME=DIR ...]
//   [--host 127.0.0.1] [--port 8000] [--grpc-port 8001 | --no-grpc] [--max-batch N] [--max-delay-ms N] [--max-queue N]
//   [--timeout-ms N] [--device D] [--dtype D] [--attention-output] [--body-limit BYTES] [--grace-period-ms N]`
//
// One model (the embedded one, or --weights with --config, or --weights alone: whatever loadPretrained reads, its
// notes printed after the ready line), or several: every folder of --model-repository (the folder's name is the
// model's) and each --model NAME=DIR, a folder holding config.json and one .pth or .safetensors weights file (a
// `vitorch train` save folder serves its best_epoch_weights.pth), or a Hugging Face transformers ViT folder. Models load, reload
// and unload at run time through Triton's repository routes (POST /v2/repository/models/{name}/load, /unload).
// --dtype is the precision the model runs in (lib/inference-precision.ts): float32 (the default), float64, float16,
// bfloat16, or int8 (dynamic quantization on the CPU); requests and responses stay FP32 either way.
// Serves a model over HTTP (lib/server/): the Open Inference Protocol under /v2, /v1/classify for images, /metrics;
// and over gRPC (lib/server/grpc/): Triton's inference.GRPCInferenceService on --grpc-port (Triton's 8001 by default,
// 0 for any free port) on the same host, unless --no-grpc. The human lines (the addresses once listening, "ready"
// after the warm-up forward, shutdown) go to stderr; stdout carries pino's JSON log, one line per request. SIGTERM
// or SIGINT drains (new requests 503 or UNAVAILABLE, accepted ones answered) and exits 0, or 1 after the grace
// period; a second signal exits at once (130). Exit codes: 1 when the model cannot be loaded or an address cannot be
// bound, 2 for a usage error.
import { createServer } from '../server/app';
import { handleShutdownSignals } from '../server/lifecycle';
import type { ServerOptions } from '../server/options';
import { INFERENCE_PRECISIONS } from '../inference-precision';
import type { Device } from '../tensor';
import { choiceFlag, integerFlag, numberFlag, parseArgs, stringFlag, UsageError } from './args';
import { PRETRAINED_FLAGS, pretrainedOptions, refusePretrainedFlagsWithConfig } from './pretrained-flags';
import { runCommand } from './run-command';

export const SERVE_USAGE =
  'usage: vitorch serve [--weights FILE|DIR [--config FILE | --num-heads N --activation A --layer-norm-eps E] ' +
  '[--model-name vit] | --model-repository DIR | ' +
  '--model NAME=DIR ...] [--host 127.0.0.1] [--port 8000] [--grpc-port 8001 | --no-grpc] [--max-batch N] ' +
  '[--max-delay-ms N] [--max-queue N] [--timeout-ms N] [--device D] [--dtype D] [--attention-output] ' +
  '[--body-limit BYTES] [--grace-period-ms N]';

const VALUED = [
  'weights',
  'config',
  'host',
  'port',
  'grpc-port',
  'model-name',
  'model-repository',
  'model',
  'max-batch',
  'max-delay-ms',
  'max-queue',
  'timeout-ms',
  'device',
  'dtype',
  'body-limit',
  'grace-period-ms',
  ...PRETRAINED_FLAGS,
];

export async function serveCommand(args: string[]): Promise<number> {
  return runCommand('serve', SERVE_USAGE, async () => {
    const parsed = parseArgs(args, VALUED, ['no-grpc', 'attention-output'], {
      overrides: false,
      positionals: false,
      repeatable: ['model'],
    });
    const integer = (name: string, min: number) => integerFlag(parsed, name, min);
    const portFlag = (name: string) =>
      numberFlag(
        parsed,
        name,
        (n) => Number.isInteger(n) && n >= 0 && n <= 65535,
        'a port number (0 for any free port)',
      );
    const port = portFlag('port') ?? 8000;
    if (parsed.flags.has('no-grpc') && parsed.flags.has('grpc-port')) {
      throw new UsageError('give --grpc-port or --no-grpc, not both');
    }
    // undefined: listenGrpc's default, Triton's 8001.
    const grpcPort = parsed.flags.has('no-grpc') ? null : portFlag('grpc-port');
    const host = stringFlag(parsed, 'host') ?? '127.0.0.1';
    const gracePeriodMs = integer('grace-period-ms', 0) ?? 30_000;
    const weights = stringFlag(parsed, 'weights');
    const config = stringFlag(parsed, 'config');
    if (config !== undefined) refusePretrainedFlagsWithConfig(parsed);
    else if (weights === undefined && PRETRAINED_FLAGS.some((name) => parsed.flags.has(name))) {
      throw new UsageError(`${PRETRAINED_FLAGS.map((name) => `--${name}`).join(', ')} describe --weights`);
    }
    const options: ServerOptions = {
      weights,
      config,
      ...(weights !== undefined && config === undefined ? { pretrained: pretrainedOptions(parsed) } : {}),
      modelName: stringFlag(parsed, 'model-name'),
      modelRepository: stringFlag(parsed, 'model-repository'),
      models: modelFlags(parsed.repeated.get('model')),
      device: stringFlag(parsed, 'device') as Device | undefined,
      dtype: choiceFlag(parsed, 'dtype', INFERENCE_PRECISIONS),
      attentionOutput: parsed.flags.has('attention-output'),
      maxBatch: integer('max-batch', 1),
      maxDelayMs: integer('max-delay-ms', 0),
      maxQueue: integer('max-queue', 1),
      timeoutMs: integer('timeout-ms', 1),
      bodyLimit: integer('body-limit', 1),
    };
    if (options.config !== undefined && options.weights === undefined) throw new UsageError('--config needs --weights');
    if ((options.models || options.modelRepository) && (options.weights || options.modelName)) {
      throw new UsageError('give --model-repository or --model NAME=DIR, or --weights (and --model-name), not both');
    }
    let app;
    try {
      app = createServer(options);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError)
        throw new UsageError(error.message.replace(/ for (\w+)/, (_, key: string) => ` for --${kebab(key)}`));
      throw error;
    }
    const say = (line: string) => console.error(`vitorch serve: ${line}`);
    handleShutdownSignals(app, { gracePeriodMs, log: say });
    let url: string;
    try {
      url = await app.listen({ host, port });
    } catch (error) {
      say(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
      await app.close().catch(() => undefined);
      return 1;
    }
    say(`listening on ${url}`);
    if (grpcPort !== null) {
      // Loaded only when wanted: grpc-js and protobufjs are some 130 modules.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- not loaded with --no-grpc
      const grpc = require('../server/grpc/listen') as typeof import('../server/grpc/listen');
      grpc.logGrpcTo(app.log);
      try {
        say(`listening for gRPC on ${host}:${await grpc.listenGrpc(app, { host, port: grpcPort })}`);
      } catch (error) {
        say((error as Error).message);
        await app.close().catch(() => undefined);
        return 1;
      }
    }
    try {
      await app.vitorch.whenReady();
    } catch (error) {
      say(`cannot serve: ${(error as Error).message}`);
      await app.close().catch(() => undefined);
      return 1;
    }
    for (const name of app.vitorch.models.names) {
      const { model } = app.vitorch.serving(name);
      say(
        `ready: model '${model.name}' from ${model.source}; input FP32 [-1, ${model.sampleShape.join(', ')}], ` +
          `${model.numClasses} classes, ${model.precisionDescription}`,
      );
      for (const note of model.notes) say(`note: ${note}`);
    }
    // Runs until a signal: handleShutdownSignals exits the process.
    return new Promise<number>(() => undefined);
  });
}

/** `--model NAME=DIR` flags as createServer's `models`; a name given twice is a usage error. */
function modelFlags(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const models: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0 || at === value.length - 1) {
      throw new UsageError(`expected NAME=DIR for --model, received '${value.slice(0, 100)}'`);
    }
    const name = value.slice(0, at);
    if (name in models) throw new UsageError(`--model ${name} is given twice`);
    models[name] = value.slice(at + 1);
  }
  return models;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
