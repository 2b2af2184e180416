// The Open Inference Protocol (KServe V2) REST routes: health, server and model metadata, model readiness, the
// model configuration (Triton's extension) and inference, each model route also under /versions/{v}. The routes
// translate between HTTP and the served model; they own no model state (lifecycle.ts does).
import * as fs from 'fs';
import * as path from 'path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HEADER_LENGTH, splitBody } from './binary-tensor';
import { NotFoundError } from './errors';
import type { ResolvedServerOptions } from './options';
import type { ServedModel } from './served-model';
import { submitWithDisconnect } from './submit';
import { buildInferResponse, INPUT_NAME, OUTPUT_NAME, parseInferRequest } from './v2-infer';

export const SERVER_NAME = 'vitorch';
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration'];
/** Triton's platform name for models that libtorch runs. */
const PLATFORM = 'pytorch_libtorch';

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
const VERSION = packageVersion();

export function registerV2Routes(app: FastifyInstance, options: ResolvedServerOptions): void {
  const lifecycle = app.vitorch;

  /** 404 unless the URL names the served model (and version "1" when it names a version). */
  const modelFor = (params: ModelParams): void => {
    if (params.name !== options.modelName) {
      throw new NotFoundError(`unknown model '${params.name}': this server serves '${options.modelName}'`);
    }
    if (params.version !== undefined && params.version !== '1') {
      throw new NotFoundError(`unknown version '${params.version}' of model '${params.name}': its only version is '1'`);
    }
  };

  app.get('/v2', async () => ({ name: SERVER_NAME, version: VERSION, extensions: EXTENSIONS }));
  app.get('/v2/health/live', async () => ({ live: true }));
  // The protocol: 200 means true, a 4xx status false.
  app.get('/v2/health/ready', async (_request, reply) => {
    reply.code(lifecycle.ready ? 200 : 400);
    return { ready: lifecycle.ready };
  });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{ Params: ModelParams }>(prefix, async (request) => {
      modelFor(request.params);
      const { model } = lifecycle.serving();
      return {
        name: model.name,
        versions: [model.version],
        platform: PLATFORM,
        inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...model.sampleShape] }],
        outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.numClasses] }],
        // The precision the model computes in, which the FP32 tensors on the wire do not show.
        parameters: { precision: model.precisionDescription },
      };
    });

    app.get<{ Params: ModelParams }>(`${prefix}/ready`, async (request, reply) => {
      modelFor(request.params);
      reply.code(lifecycle.ready ? 200 : 400);
      return { name: request.params.name, ready: lifecycle.ready };
    });

    app.get<{ Params: ModelParams }>(`${prefix}/config`, async (request) => {
      modelFor(request.params);
      const { model } = lifecycle.serving();
      return modelConfig(model, options);
    });

    app.post<{ Params: ModelParams }>(`${prefix}/infer`, async (request, reply) => infer(request, reply));
  }

  async function infer(request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<Buffer> {
    modelFor(request.params);
    const { model, batcher } = lifecycle.serving();
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const parsed = parseInferRequest(splitBody(body, request.headers[HEADER_LENGTH]), model, options.maxBatch);
    using input = model.toInput(parsed.input, parsed.samples);
    const result = await submitWithDisconnect(
      batcher,
      input,
      parsed.samples,
      parsed.timeoutMs ?? options.timeoutMs,
      request,
      reply,
    );
    request.batchSamples = result.batchSamples;
    const response = buildInferResponse(parsed, model, result.output);
    reply.type(response.contentType);
    if (response.headerLength !== undefined) reply.header('Inference-Header-Content-Length', response.headerLength);
    return response.body;
  }
}

/** Triton's model configuration (its ModelConfig message as JSON): dims exclude the batch dimension. */
function modelConfig(model: ServedModel, options: ResolvedServerOptions): Record<string, unknown> {
  return {
    name: model.name,
    platform: PLATFORM,
    backend: SERVER_NAME,
    max_batch_size: options.maxBatch,
    input: [{ name: INPUT_NAME, data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [...model.sampleShape] }],
    output: [{ name: OUTPUT_NAME, data_type: 'TYPE_FP32', dims: [model.numClasses] }],
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
