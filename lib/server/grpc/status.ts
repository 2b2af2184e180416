// The serving layer's errors (errors.ts, made for HTTP status codes) as gRPC status codes, decided here in one place,
// with the metrics outcome each one counts as: the same outcome an HTTP request that failed alike counts as.
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import { CancelledError, DeadlineError, HttpError, QueueFullError } from '../errors';
import { outcomeOf } from '../metrics';

export interface GrpcFailure {
  status: Partial<StatusObject> & { code: Status; details: string };
  outcome: string;
  /** An error of the server's own (INTERNAL), worth a log line at error level. */
  internal: boolean;
}

export function grpcFailureOf(error: unknown): GrpcFailure {
  if (!(error instanceof HttpError)) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      status: { code: Status.INTERNAL, details: `internal error: ${message}` },
      outcome: 'server_error',
      internal: true,
    };
  }
  const metadata = new Metadata();
  // Retry-After, where HTTP would send it (loading, a full queue), as trailing metadata of the same name.
  for (const [key, value] of Object.entries(error.headers)) metadata.set(key, value);
  return {
    status: { code: codeOf(error), details: error.message, metadata },
    outcome: outcomeOf(error.statusCode, error.outcome),
    internal: false,
  };
}

function codeOf(error: HttpError): Status {
  if (error instanceof QueueFullError) return Status.RESOURCE_EXHAUSTED;
  if (error instanceof DeadlineError) return Status.DEADLINE_EXCEEDED;
  if (error instanceof CancelledError) return Status.CANCELLED;
  switch (error.statusCode) {
    case 404:
      return Status.NOT_FOUND;
    case 413:
      return Status.RESOURCE_EXHAUSTED;
    case 503:
      return Status.UNAVAILABLE;
    default:
      return error.statusCode < 500 ? Status.INVALID_ARGUMENT : Status.INTERNAL;
  }
}
