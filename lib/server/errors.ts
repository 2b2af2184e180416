// The errors the serving layer answers with, each carrying its HTTP status. Routes and the batcher throw them; the
// one error handler in app.ts turns them (and fastify's own errors) into `{"error": "..."}` bodies, so a status code
// is decided in one place and every error body has the shape the Open Inference Protocol prescribes.

export class HttpError extends Error {
  /** The metrics outcome, where the status code alone does not say it. */
  readonly outcome?: string;
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 400: the request is malformed or does not fit the model (shape, datatype, parameters). */
export class BadRequestError extends HttpError {
  constructor(message: string) {
    super(400, message);
  }
}

/** 404: no such model, version or route. */
export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, message);
  }
}

/** 415: a body of a media type the route does not take. */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(message: string) {
    super(415, message);
  }
}

/** 503: the server cannot take the request now (loading, shutting down, queue full, deadline passed). */
export class UnavailableError extends HttpError {
  constructor(message: string, retryAfterSeconds?: number) {
    super(503, message, retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) });
  }
}

/** 503 at once when the bounded queue is full: the client should retry (elsewhere or later). */
export class QueueFullError extends UnavailableError {
  override readonly outcome = 'queue_full';
  constructor(maxQueue: number) {
    super(`the queue is full (${maxQueue} requests waiting); retry later`, 1);
  }
}

/** A queued request whose deadline passed before a batch took it: dropped without computing. */
export class DeadlineError extends UnavailableError {
  override readonly outcome = 'deadline';
  constructor(timeoutMs: number) {
    super(`the request's deadline (${timeoutMs} ms) passed while it was queued; dropped before compute`);
  }
}

/** The client went away while its request was queued; nobody reads the answer, it is only counted. */
export class CancelledError extends HttpError {
  override readonly outcome = 'cancelled';
  constructor() {
    super(499, 'the client disconnected while the request was queued');
  }
}
