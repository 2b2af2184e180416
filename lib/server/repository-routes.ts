// Triton's model repository extension over HTTP: POST /v2/repository/index lists the models with their states, and
// /v2/repository/models/{name}/load and /unload load, reload and unload one at run time (model-repository.ts does
// the work; the other models keep answering meanwhile). Load answers once the model has run its warm-up forward,
// unload once the requests already queued for it are answered.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describe } from '../validate';
import { BadRequestError, HttpError } from './errors';

interface NameParams {
  name: string;
}

export function registerRepositoryRoutes(app: FastifyInstance): void {
  const models = app.vitorch.models;

  app.post('/v2/repository/index', async (request) => {
    const body = jsonBody(request, 'the repository index request');
    const ready = body.ready;
    if (ready !== undefined && typeof ready !== 'boolean') {
      throw new BadRequestError(`expected a boolean for ready, received ${describe(ready)}`);
    }
    return models.index(ready === true);
  });

  app.post<{ Params: NameParams }>('/v2/repository/models/:name/load', async (request) => {
    refuseParameters(jsonBody(request, 'the load request'), 'load');
    try {
      await models.load(request.params.name);
    } catch (error) {
      throw asLoadError(error as Error, request.params.name);
    }
    return {};
  });

  app.post<{ Params: NameParams }>('/v2/repository/models/:name/unload', async (request) => {
    checkUnloadParameters(jsonBody(request, 'the unload request'));
    await models.unload(request.params.name);
    return {};
  });
}

/** The JSON object of a repository request; an empty body is an empty object, as Triton's clients send it. */
function jsonBody(request: FastifyRequest, what: string): Record<string, unknown> {
  const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (bytes.length === 0) return {};
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BadRequestError(`expected a JSON object for ${what}, received ${describe(json)}`);
  }
  const params = (json as Record<string, unknown>).parameters;
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw new BadRequestError(`expected an object for the parameters of ${what}, received ${describe(params)}`);
  }
  return json as Record<string, unknown>;
}

/** Triton's load parameters (a config or files sent with the request) are not taken: a model is its folder. */
export function refuseParameters(body: Record<string, unknown>, what: string): void {
  const params = body.parameters as Record<string, unknown> | undefined;
  const keys = Object.keys(params ?? {});
  if (keys.length > 0) {
    throw new BadRequestError(
      `unsupported ${what} parameter '${keys[0].slice(0, 64)}': vitorch loads a model from its folder ` +
        '(config.json and one weights file), not from files or a config sent with the request',
    );
  }
}

/** Triton's unload_dependents has no meaning here (models do not depend on each other); anything else is unknown. */
export function checkUnloadParameters(body: { parameters?: unknown }): void {
  const params = body.parameters as Record<string, unknown> | undefined;
  const unknown = Object.keys(params ?? {}).filter((key) => key !== 'unload_dependents');
  if (unknown.length > 0) throw new BadRequestError(`unknown unload parameter '${unknown[0].slice(0, 64)}'`);
}

/** A model that cannot be loaded (no folder, a bad config, weights that do not fit it) is answered 400 with the
 *  reason, as Triton answers a failed load; an unknown name stays 404 and a shutting-down server 503. */
export function asLoadError(error: Error, name: string): Error {
  if (error instanceof HttpError) return error;
  return new BadRequestError(`cannot load model '${name}': ${error.message}`);
}
