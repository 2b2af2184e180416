// What every gRPC call goes through, as every HTTP request goes through app.ts's hooks: the phase check (while
// loading or draining, only the probes, the server metadata and the statistics answer; everything else is
// UNAVAILABLE, as HTTP answers 503), the error turned into its status (status.ts), one count in
// vitorch_requests_total with route "grpc/<Method>" and the same outcomes as HTTP, its duration, and one log line.
import { status as Status } from '@grpc/grpc-js';
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { grpcFailureOf } from './status';

/** What a handler tells the count and the log line about its call. */
export interface CallRecord {
  /** The model the call names ('' for the server's own methods). */
  model: string;
  /** Samples in the batch a ModelInfer ran in. */
  batchSamples?: number;
}

export type UnaryHandler<Request, Response> = (
  request: Request,
  call: ServerUnaryCall<Request, Response>,
  record: CallRecord,
) => Response | Promise<Response>;

/** When the client's deadline passes, grpc-js answers DEADLINE_EXCEEDED and reports the call cancelled. */
export function deadlineOf(call: { getDeadline(): Date | number }): number {
  const deadline = call.getDeadline();
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

export class GrpcCalls {
  constructor(private readonly app: FastifyInstance) {}

  /** `handle` as a unary method; `open` methods answer in every phase. */
  unary<Request, Response>(
    method: string,
    open: boolean,
    handle: UnaryHandler<Request, Response>,
  ): handleUnaryCall<Request, Response> {
    return (call, callback) => {
      const started = process.hrtime.bigint();
      const record: CallRecord = { model: modelNamed(call.request) };
      const run = async () => {
        const refusal = open ? null : this.app.vitorch.refusal();
        if (refusal) throw refusal;
        return handle(call.request, call, record);
      };
      run().then(
        (response) => {
          this.finish(method, call, record, started, Status.OK, 'success');
          (callback as sendUnaryData<Response>)(null, response);
        },
        (error: unknown) => {
          const failure = grpcFailureOf(error);
          if (failure.internal) this.app.log.error({ err: error, grpc: method }, 'request failed');
          this.finish(method, call, record, started, failure.status.code, failure.outcome);
          callback(failure.status as ServiceError);
        },
      );
    };
  }

  /** A method of the protocol vitorch does not serve (shared memory, tracing, logging, streaming inference). */
  unimplemented(method: string, implemented: string[]) {
    const status = {
      code: Status.UNIMPLEMENTED,
      details:
        `vitorch does not implement ${method}; its gRPC service answers ` +
        `${implemented.slice(0, -1).join(', ')} and ${implemented[implemented.length - 1]}`,
    };
    return (call: ServerUnaryCall<unknown, unknown>, callback?: sendUnaryData<unknown>) => {
      this.finish(method, call, { model: '' }, process.hrtime.bigint(), status.code, 'unimplemented');
      if (callback) callback(status);
      // A streaming method's call is a stream: the status goes out as its error.
      else (call as unknown as NodeJS.EventEmitter).emit('error', status);
    };
  }

  private finish(
    method: string,
    call: { cancelled: boolean; getDeadline(): Date | number },
    record: CallRecord,
    started: bigint,
    code: Status,
    outcome: string,
  ): void {
    // Nobody receives the answer of a cancelled call; it counts as cancelled, or as its deadline if that passed.
    if (call.cancelled) outcome = Date.now() >= deadlineOf(call) ? 'deadline' : 'cancelled';
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const route = `grpc/${method}`;
    const metrics = this.app.vitorchMetrics;
    const model = this.app.vitorch.models.labelOf(record.model);
    metrics.requests.inc({ model, route, outcome });
    metrics.requestDuration.observe({ model, route }, seconds);
    this.app.log.info(
      {
        grpc: method,
        model: record.model || undefined,
        code: Status[code],
        outcome,
        latencyMs: Math.round(seconds * 1e5) / 100,
        batchSize: record.batchSamples,
      },
      'request',
    );
  }
}

/** The model a request names (ModelInferRequest and the repository's model_name, the others' name), as a label. */
function modelNamed(request: unknown): string {
  const fields = (request ?? {}) as { model_name?: unknown; name?: unknown };
  const name = fields.model_name ?? fields.name;
  return typeof name === 'string' ? name.slice(0, 64) : '';
}
