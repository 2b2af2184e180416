// gRPC for the serving tests: a server that createServer made, listening on loopback over HTTP and gRPC (any free
// ports), and a Node client of the same protocol (@grpc/grpc-js with the vendored protos, read as the server reads
// them), whose calls resolve to their status, details, trailing metadata and response instead of throwing.
import * as grpc from '@grpc/grpc-js';
import { createServer, listenGrpc } from '../lib/server';
import type { ServerOptions } from '../lib/server';
import { inferencePackage } from '../lib/server/grpc/protos';
import type { RunningServer } from './server-fixtures';

export interface RunningGrpcServer extends RunningServer {
  grpcPort: number;
}

export async function startGrpcServer(options: ServerOptions = {}): Promise<RunningGrpcServer> {
  const app = createServer({ logger: false, ...options });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const grpcPort = await listenGrpc(app, { host: '127.0.0.1', port: 0 });
  try {
    await app.vitorch.whenReady();
  } catch (error) {
    // Closed here when its model cannot load: left listening, it would keep Jest from exiting.
    await app.close();
    throw error;
  }
  return { app, url, grpcPort, close: () => app.close() };
}

export interface Answer {
  code: grpc.status;
  details: string;
  metadata?: grpc.Metadata;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the message as it came off the wire: the tests hold its fields to expected values
  response?: any;
}

type Callback = (error: grpc.ServiceError | null, response?: unknown) => void;
type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: Callback,
) => grpc.ClientUnaryCall;

export class InferenceClient {
  private readonly client: grpc.Client;

  constructor(port: number) {
    const inference = grpc.loadPackageDefinition(inferencePackage()).inference as grpc.GrpcObject;
    const Service = inference.GRPCInferenceService as grpc.ServiceClientConstructor;
    this.client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }

  /** Starts unary `method`; `done` resolves with how it ended, `call` can cancel it. */
  start(
    method: string,
    request: unknown,
    options: grpc.CallOptions = {},
  ): { call: grpc.ClientUnaryCall; done: Promise<Answer> } {
    let call!: grpc.ClientUnaryCall;
    const done = new Promise<Answer>((resolve) => {
      const unary = (this.client as unknown as Record<string, UnaryMethod>)[method].bind(this.client);
      call = unary(request, new grpc.Metadata(), options, (error, response) =>
        resolve(
          error
            ? { code: error.code, details: error.details, metadata: error.metadata }
            : { code: grpc.status.OK, details: '', response },
        ),
      );
    });
    return { call, done };
  }

  call(method: string, request: unknown, options: grpc.CallOptions = {}): Promise<Answer> {
    return this.start(method, request, options).done;
  }

  /** A bidirectional-streaming method (ModelStreamInfer): the status it ends with. */
  stream(method: string): Promise<Answer> {
    const open = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>)[method];
    const stream = open.call(this.client);
    return new Promise((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', (error: grpc.ServiceError) => resolve({ code: error.code, details: error.details }));
    });
  }

  close(): void {
    this.client.close();
  }
}

/** A ModelInferRequest for `input` of `samples` samples [n, 1, 28, 28], its data as raw little-endian bytes. */
export function rawInferRequest(input: Float32Array, samples: number, extra: Record<string, unknown> = {}) {
  return {
    model_name: 'vit',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [samples, 1, 28, 28] }],
    raw_input_contents: [Buffer.from(input.buffer, input.byteOffset, input.byteLength)],
    ...extra,
  };
}

/** The FP32 values of a raw_output_contents entry (little-endian, any alignment). */
export function float32Values(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
