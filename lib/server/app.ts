// createServer(options): the fastify instance that serves one model or several (model-repository.ts) over the Open
// Inference Protocol (v2-routes.ts, repository-routes.ts), /v1/classify for people (classify-route.ts) with its page
// at / (page-routes.ts, models-route.ts) and /metrics,
// with dynamic batching (batcher.ts). It is returned at once, to mount or extend; the models load in the background
// and the server is ready after their warm-up forwards (`await app.vitorch.whenReady()`). Errors become
// `{"error": "..."}` bodies here, in one place.
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as zlib from 'zlib';
import { registerClassifyRoute } from './classify-route';
import { HttpError, UnsupportedMediaTypeError } from './errors';
import { ServerLifecycle } from './lifecycle';
import { outcomeOf, ServerMetrics } from './metrics';
import { registerModelsRoute } from './models-route';
import { resolveServerOptions } from './options';
import type { ServerOptions } from './options';
import { PAGE_FILES, registerPageRoutes } from './page-routes';
import { registerRepositoryRoutes } from './repository-routes';
import { registerV2Routes } from './v2-routes';

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's phase, its model and batcher (lib/server/lifecycle.ts). */
    vitorch: ServerLifecycle;
    vitorchMetrics: ServerMetrics;
  }
  interface FastifyRequest {
    /** Samples in the batch this request's forward pass ran in (for the log line). */
    batchSamples?: number;
    /** The metrics outcome when the status code alone does not say it (queue_full, deadline, cancelled). */
    outcome?: string;
    counted?: boolean;
  }
}

/** Routes that answer whatever the phase: probes, metrics, and the page with what it reads first (so that it can
 *  say the server is loading). Every other route gets 503 unless ready. */
const ALWAYS_OPEN = new Set([
  ...Object.keys(PAGE_FILES),
  '/v1/models',
  '/v2',
  '/v2/health/live',
  '/v2/health/ready',
  '/v2/models/:name/ready',
  '/v2/models/:name/versions/:version/ready',
  '/v2/models/stats',
  '/v2/models/:name/stats',
  '/v2/models/:name/versions/:version/stats',
  '/metrics',
]);

/** Routes whose requests join the batch queue. */
const COMPUTE_ROUTES = new Set(['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer', '/v1/classify']);

export function createServer(options: ServerOptions = {}): FastifyInstance {
  const o = resolveServerOptions(options);
  const app = Fastify({
    logger: o.logger,
    bodyLimit: o.bodyLimit,
    // A request id from the load balancer is kept (and logged); otherwise fastify numbers requests.
    requestIdHeader: 'x-request-id',
    // One line per request, written by the onResponse hook below with the batch size.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Errors the router meets before any route (a malformed URL, an over-long path segment) in the same body shape.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      (reply as FastifyReply).code(tooLong ? 414 : 400).send({
        error: tooLong ? 'a path segment of the URL is longer than 100 characters' : 'the URL cannot be decoded',
      });
    },
  }) as unknown as FastifyInstance;
  const metrics = new ServerMetrics(o.maxBatch);
  const lifecycle = new ServerLifecycle(o, metrics);
  app.decorate('vitorch', lifecycle);
  app.decorate('vitorchMetrics', metrics);
  app.decorateRequest('batchSamples', undefined);
  app.decorateRequest('outcome', undefined);
  app.decorateRequest('counted', false);

  // Every body arrives as bytes, whatever its Content-Type or none (Triton's clients send none): each route reads
  // its own format, and /v1/classify decides which media types it takes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) =>
    decodeBody(request, body as Buffer, o.bodyLimit, done),
  );

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || ALWAYS_OPEN.has(route)) return;
    const refusal = lifecycle.refusal();
    if (refusal) throw refusal;
    // Under overload the refusal comes before the body is read: Node discards an unread body without buffering
    // it, so turning away a 600 KB image costs almost nothing. (A request that passes here can still find the queue
    // full when it is ready to join it, and is refused then.)
    if (COMPUTE_ROUTES.has(route)) {
      const batcher = lifecycle.models.queueOf(modelNamed(request));
      if (batcher?.full) throw batcher.queueFullError();
    }
  });
  // While draining, each answer closes its connection: an idle keep-alive socket would hold close() open.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (lifecycle.phase === 'draining' || lifecycle.phase === 'closed') reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onRequestAbort', async (request) => {
    count(request, 'cancelled');
  });
  app.addHook('onResponse', async (request, reply) => {
    count(request, outcomeOf(reply.statusCode, request.outcome), reply);
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        latencyMs: Math.round(reply.elapsedTime * 100) / 100,
        batchSize: request.batchSamples,
      },
      'request',
    );
  });
  const count = (request: FastifyRequest, outcome: string, reply?: FastifyReply) => {
    if (request.counted) return;
    request.counted = true;
    const route = request.routeOptions.url ?? 'unmatched';
    const model = lifecycle.models.labelOf(modelNamed(request));
    metrics.requests.inc({ model, route, outcome });
    if (reply) metrics.requestDuration.observe({ model, route }, reply.elapsedTime / 1000);
  };
  /** The model a request is for: the one its URL names, or /v1/classify's (its ?model= or the default). */
  const modelNamed = (request: FastifyRequest): string | undefined => {
    const params = request.params as { name?: unknown } | undefined;
    if (typeof params?.name === 'string') return params.name.slice(0, 64);
    if (request.routeOptions.url !== '/v1/classify') return undefined;
    const query = request.query as { model?: unknown } | undefined;
    return typeof query?.model === 'string' ? query.model.slice(0, 64) : lifecycle.defaultModelName();
  };

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; outcome?: string }, request, reply) => {
    if (error instanceof HttpError) {
      if (error.outcome) request.outcome = error.outcome;
      // Nobody is left to receive this answer, so no onResponse will count it.
      if (error.outcome === 'cancelled') count(request, 'cancelled');
      reply.headers(error.headers).code(error.statusCode).send({ error: error.message });
      return;
    }
    const status = error.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      reply.code(status).send({ error: fastifyErrorMessage(error, o.bodyLimit) });
      return;
    }
    request.log.error({ err: error }, 'request failed');
    reply.code(500).send({ error: `internal error: ${error.message}` });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0].slice(0, 200)}` });
  });

  registerV2Routes(app, o);
  registerRepositoryRoutes(app);
  registerClassifyRoute(app, o);
  registerModelsRoute(app);
  registerPageRoutes(app);
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.addHook('onClose', async () => {
    await lifecycle.close();
  });
  return app;
}

/** The words of fastify's own client errors, made specific where they are vague. */
function fastifyErrorMessage(error: Error & { code?: string }, bodyLimit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the request body is larger than this server's limit of ${bodyLimit} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'the Content-Type header cannot be parsed';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'the body is not as long as the Content-Length header says';
    default:
      return error.message;
  }
}

/** Bodies compressed as Triton's clients can send them (Content-Encoding gzip or deflate), inflated off the main
 *  thread with the body limit applied to the inflated size. */
function decodeBody(
  request: FastifyRequest,
  body: Buffer,
  limit: number,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const encoding = String(request.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (encoding === 'identity' || encoding === '') {
    done(null, body);
    return;
  }
  const inflate = encoding === 'gzip' ? zlib.gunzip : encoding === 'deflate' ? zlib.inflate : null;
  if (!inflate) {
    done(
      new UnsupportedMediaTypeError(
        `expected Content-Encoding gzip, deflate or identity, received '${encoding.slice(0, 40)}'`,
      ),
    );
    return;
  }
  inflate(body, { maxOutputLength: limit }, (error, inflated) => {
    if (!error) done(null, inflated);
    else if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      done(new HttpError(413, `the request body inflates to more than this server's limit of ${limit} bytes`));
    } else {
      done(new HttpError(400, `the request body is not valid ${encoding} data: ${error.message}`));
    }
  });
}
