// `vitorch serve [--weights FILE --config FILE] [--host 127.0.0.1] [--port 8000] [--model-name vit] [--max-batch N]
//   [--max-delay-ms N] [--max-queue N] [--timeout-ms N] [--device D] [--dtype D] [--body-limit BYTES]
//   [--grace-period-ms N]`
//
// --dtype is the precision the model runs in (lib/inference-precision.ts): float32 (the default), float64, float16,
// bfloat16, or int8 (dynamic quantization on the CPU); requests and responses stay FP32 either way.
// Serves a model over HTTP (lib/server/): the Open Inference Protocol under /v2, /v1/classify for images, /metrics.
// The human lines (the URL once listening, "ready" after the warm-up forward, shutdown) go to stderr; stdout carries
// pino's JSON log, one line per request. SIGTERM or SIGINT drains (new requests 503, accepted ones answered) and
// exits 0, or 1 after the grace period; a second signal exits at once (130). Exit codes: 1 when the model cannot
// be loaded or the address cannot be bound, 2 for a usage error.
import { createServer } from '../server/app';
import { handleShutdownSignals } from '../server/lifecycle';
import type { ServerOptions } from '../server/options';
import { INFERENCE_PRECISIONS } from '../inference-precision';
import type { Device } from '../tensor';
import { choiceFlag, integerFlag, numberFlag, parseArgs, stringFlag, UsageError } from './args';
import { runCommand } from './run-command';

export const SERVE_USAGE =
  'usage: vitorch serve [--weights FILE --config FILE] [--host 127.0.0.1] [--port 8000] ' +
  '[--model-name vit] [--max-batch N] [--max-delay-ms N] [--max-queue N] [--timeout-ms N] [--device D] [--dtype D] ' +
  '[--body-limit BYTES] [--grace-period-ms N]';

const VALUED = [
  'weights',
  'config',
  'host',
  'port',
  'model-name',
  'max-batch',
  'max-delay-ms',
  'max-queue',
  'timeout-ms',
  'device',
  'dtype',
  'body-limit',
  'grace-period-ms',
];

export async function serveCommand(args: string[]): Promise<number> {
  return runCommand('serve', SERVE_USAGE, async () => {
    const parsed = parseArgs(args, VALUED, [], { overrides: false, positionals: false });
    const integer = (name: string, min: number) => integerFlag(parsed, name, min);
    const port =
      numberFlag(
        parsed,
        'port',
        (n) => Number.isInteger(n) && n >= 0 && n <= 65535,
        'a port number (0 for any free port)',
      ) ?? 8000;
    const host = stringFlag(parsed, 'host') ?? '127.0.0.1';
    const gracePeriodMs = integer('grace-period-ms', 0) ?? 30_000;
    const options: ServerOptions = {
      weights: stringFlag(parsed, 'weights'),
      config: stringFlag(parsed, 'config'),
      modelName: stringFlag(parsed, 'model-name'),
      device: stringFlag(parsed, 'device') as Device | undefined,
      dtype: choiceFlag(parsed, 'dtype', INFERENCE_PRECISIONS),
      maxBatch: integer('max-batch', 1),
      maxDelayMs: integer('max-delay-ms', 0),
      maxQueue: integer('max-queue', 1),
      timeoutMs: integer('timeout-ms', 1),
      bodyLimit: integer('body-limit', 1),
    };
    if (options.config !== undefined && options.weights === undefined) throw new UsageError('--config needs --weights');
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
    try {
      await app.vitorch.whenReady();
    } catch (error) {
      say(`cannot load the model: ${(error as Error).message}`);
      await app.close().catch(() => undefined);
      return 1;
    }
    const model = app.vitorch.model!;
    say(
      `ready: model '${model.name}' from ${model.source}; input FP32 [-1, ${model.sampleShape.join(', ')}], ` +
        `${model.numClasses} classes, ${model.precisionDescription}`,
    );
    // Runs until a signal: handleShutdownSignals exits the process.
    return new Promise<number>(() => undefined);
  });
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
