// The Open Inference Protocol (KServe V2) REST routes: health, server and model metadata, model readiness, the
// model configuration and statistics (Triton's extensions) and inference, each model route also under
// /versions/{v}. The routes translate between HTTP and the served models; they own no model state (the model
// repository does: model-repository.ts, whose own routes are repository-routes.ts).
import * as fs from 'fs';
import * as path from 'path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HEADER_LENGTH, splitBody } from './binary-tensor';
import type { ResolvedServerOptions } from './options';
import type { ServedModel } from './served-model';
import { inferOverHttp } from './submit';
import { MODEL_VERSION } from './model-repository';
import { rolloutGrid, ROLLOUT_OUTPUT_NAME } from './rollout-output';
import { buildInferResponse, INPUT_NAME, OUTPUT_NAME, parseInferRequest } from './v2-infer';
import type { InferRequest } from './v2-infer';

export const SERVER_NAME = 'vitorch';
export const EXTENSIONS = [
  'binary_tensor_data',
  'classification',
  'model_configuration',
  'model_repository',
  'statistics',
];
/** Triton's platform name for models that libtorch runs. */
export const PLATFORM = 'pytorch_libtorch';

interface ModelParams {
  name: string;
  version?: string;
}

/** The package's version: package.json is two folders up from lib/server (ts-jest), three from dist/lib/server. */
function packageVersion(): string {
  for (const up of ['..', '../..', '../../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, up, 'package.json'), 'utf8'));
      if (pkg.name === 'vitorch') return String(pkg.version);
    } catch {
      // not this folder
    }
  }
  return 'unknown';
}
export const VERSION = packageVersion();

export function registerV2Routes(app: FastifyInstance, options: ResolvedServerOptions): void {
  const lifecycle = app.vitorch;

  app.get('/v2', async () => ({ name: SERVER_NAME, version: VERSION, extensions: EXTENSIONS }));
  app.get('/v2/health/live', async () => ({ live: true }));
  // The protocol: 200 means true, a 4xx status false.
  app.get('/v2/health/ready', async (_request, reply) => {
    reply.code(lifecycle.ready ? 200 : 400);
    return { ready: lifecycle.ready };
  });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{ Params: ModelParams }>(prefix, async (request) => {
      const { model } = lifecycle.serving(request.params.name, request.params.version);
      return modelMetadata(model);
    });

    app.get<{ Params: ModelParams }>(`${prefix}/ready`, async (request, reply) => {
      const ready = lifecycle.ready && lifecycle.models.isReady(request.params.name, request.params.version);
      reply.code(ready ? 200 : 400);
      return { name: request.params.name, ready };
    });

    app.get<{ Params: ModelParams }>(`${prefix}/config`, async (request) => {
      const { model } = lifecycle.serving(request.params.name, request.params.version);
      return modelConfig(model, options);
    });

    // Readable in any phase and for an unloaded model: counts that were made stay readable.
    app.get<{ Params: ModelParams }>(`${prefix}/stats`, async (request) => {
      const { name, version } = request.params;
      return { model_stats: [lifecycle.models.statistics(name, version).toJson(name, MODEL_VERSION)] };
    });

    app.post<{ Params: ModelParams }>(`${prefix}/infer`, async (request, reply) => infer(request, reply));
  }

  // Every model's statistics (Triton's GET /v2/models/stats).
  app.get('/v2/models/stats', async () => ({
    model_stats: lifecycle.models.allStatistics().map(({ name, statistics }) => statistics.toJson(name, MODEL_VERSION)),
  }));

  async function infer(request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<Buffer> {
    const serving = lifecycle.serving(request.params.name, request.params.version);
    const { model } = serving;
    let parsed: InferRequest;
    const { answer } = await inferOverHttp(serving, request, reply, {
      input: () => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        parsed = parseInferRequest(splitBody(body, request.headers[HEADER_LENGTH]), model, options.maxBatch);
        const timeoutMs = parsed.timeoutMs ?? options.timeoutMs;
        const input = model.toInput(parsed.input, parsed.samples);
        return { input, samples: parsed.samples, timeoutMs, rollout: parsed.rollout };
      },
      respond: (logits, _result, rollout) => buildInferResponse(parsed, model, logits, rollout),
    });
    reply.type(answer.contentType);
    if (answer.headerLength !== undefined) reply.header('Inference-Header-Content-Length', answer.headerLength);
    return answer.body;
  }
}

/** The protocol's model metadata: name, versions, platform, and the input and output tensors (`logits`, what a
 *  request that names no outputs gets, and `attention_rollout` where the server offers it, only when named). */
export function modelMetadata(model: ServedModel): Record<string, unknown> {
  return {
    name: model.name,
    versions: [model.version],
    platform: PLATFORM,
    inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...model.sampleShape] }],
    outputs: [
      { name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.numClasses] },
      ...(model.attentionOutput
        ? [{ name: ROLLOUT_OUTPUT_NAME, datatype: 'FP32', shape: [-1, ...rolloutGrid(model)] }]
        : []),
    ],
    // The precision the model computes in, which the FP32 tensors on the wire do not show.
    parameters: { precision: model.precisionDescription },
  };
}

/** Triton's model configuration (its ModelConfig message as JSON): dims exclude the batch dimension. */
export function modelConfig(model: ServedModel, options: ResolvedServerOptions): Record<string, unknown> {
  return {
    name: model.name,
    platform: PLATFORM,
    backend: SERVER_NAME,
    max_batch_size: options.maxBatch,
    input: [{ name: INPUT_NAME, data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [...model.sampleShape] }],
    output: [
      { name: OUTPUT_NAME, data_type: 'TYPE_FP32', dims: [model.numClasses] },
      ...(model.attentionOutput
        ? [{ name: ROLLOUT_OUTPUT_NAME, data_type: 'TYPE_FP32', dims: rolloutGrid(model) }]
        : []),
    ],
    dynamic_batching: {
      max_queue_delay_microseconds: options.maxDelayMs * 1000,
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: options.timeoutMs * 1000,
        allow_timeout_override: true,
        max_queue_size: options.maxQueue,
      },
    },
    parameters: { dtype: { string_value: model.precision }, device: { string_value: model.device } },
  };
}
