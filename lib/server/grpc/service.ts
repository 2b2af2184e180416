// inference.GRPCInferenceService as vitorch serves it: the Open Inference Protocol's six methods (health, metadata,
// ModelInfer) and Triton's model configuration, statistics and repository methods, each the gRPC form of a REST
// route (v2-routes.ts, repository-routes.ts) over the same lifecycle and model repository; the protocol's other
// methods (shared memory, tracing, log settings, streaming inference) answer UNIMPLEMENTED.
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../errors';
import { MODEL_VERSION } from '../model-repository';
import { asLoadError, checkUnloadParameters, refuseParameters } from '../repository-routes';
import { EXTENSIONS, modelConfig, modelMetadata, SERVER_NAME, VERSION } from '../v2-routes';
import { GrpcCalls } from './calls';
import type { ModelInferRequest, ModelRequest, RepositoryIndexRequest, RepositoryModelRequest } from './messages';
import { modelInfer } from './model-infer';

export function serviceImplementation(
  app: FastifyInstance,
  definition: ServiceDefinition,
): UntypedServiceImplementation {
  const lifecycle = app.vitorch;
  const models = lifecycle.models;
  const calls = new GrpcCalls(app);
  // The protocol leaves version empty for "the server's choice": its only version.
  const version = (request: ModelRequest) => request.version || undefined;
  const OPEN = true;

  const implemented: UntypedServiceImplementation = {
    ServerLive: calls.unary('ServerLive', OPEN, () => ({ live: true })),
    ServerReady: calls.unary('ServerReady', OPEN, () => ({ ready: lifecycle.ready })),
    // As Triton answers it: an unknown model is not ready, not an error.
    ModelReady: calls.unary('ModelReady', OPEN, (request: ModelRequest) => {
      try {
        return { ready: lifecycle.ready && models.isReady(request.name ?? '', version(request)) };
      } catch (error) {
        if (error instanceof NotFoundError) return { ready: false };
        throw error;
      }
    }),
    ServerMetadata: calls.unary('ServerMetadata', OPEN, () => ({
      name: SERVER_NAME,
      version: VERSION,
      extensions: EXTENSIONS,
    })),
    ModelMetadata: calls.unary('ModelMetadata', !OPEN, (request: ModelRequest) =>
      modelMetadata(lifecycle.serving(request.name ?? '', version(request)).model),
    ),
    ModelConfig: calls.unary('ModelConfig', !OPEN, (request: ModelRequest) => ({
      config: modelConfig(lifecycle.serving(request.name ?? '', version(request)).model, lifecycle.options),
    })),
    // Readable in any phase and for an unloaded model, as GET /v2/models/{name}/stats; no name means every model.
    ModelStatistics: calls.unary('ModelStatistics', OPEN, (request: ModelRequest) => ({
      model_stats: request.name
        ? [models.statistics(request.name, version(request)).toJson(request.name, MODEL_VERSION)]
        : models.allStatistics().map(({ name, statistics }) => statistics.toJson(name, MODEL_VERSION)),
    })),
    ModelInfer: calls.unary('ModelInfer', !OPEN, (request: ModelInferRequest, call, record) =>
      modelInfer(lifecycle, request, call, record),
    ),
    // vitorch has one repository, whatever repository_name says.
    RepositoryIndex: calls.unary('RepositoryIndex', !OPEN, (request: RepositoryIndexRequest) => ({
      models: models.index(request.ready === true),
    })),
    RepositoryModelLoad: calls.unary('RepositoryModelLoad', !OPEN, async (request: RepositoryModelRequest) => {
      refuseParameters({ parameters: request.parameters }, 'load');
      const name = request.model_name ?? '';
      try {
        await models.load(name);
      } catch (error) {
        throw asLoadError(error as Error, name);
      }
      return {};
    }),
    RepositoryModelUnload: calls.unary('RepositoryModelUnload', !OPEN, async (request: RepositoryModelRequest) => {
      checkUnloadParameters({ parameters: request.parameters });
      await models.unload(request.model_name ?? '');
      return {};
    }),
  };
  const names = Object.keys(implemented);
  const service: UntypedServiceImplementation = {};
  for (const method of Object.keys(definition)) {
    service[method] = implemented[method] ?? calls.unimplemented(method, names);
  }
  return service;
}
