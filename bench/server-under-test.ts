// What the serving benchmarks need from a server, whichever it is: its process (for memory), the request the load
// sends (one image), a way to ask it once and read the logits (to check it serves the benchmark's model), and stop.
import { ServerProcess } from './server-process';

export interface LoadTarget {
  url: string;
  headers: Record<string, string>;
  /** The whole body of every request, in a file the load process reads. */
  bodyFile: string;
}

export interface ServerUnderTest {
  label: string;
  process: ServerProcess;
  target: LoadTarget;
  /** The wire format of `target`, for the table's notes. */
  format: string;
  /** One request with this image ([1, 3, 224, 224] float32); the logits it answers. */
  infer(image: Float32Array): Promise<Float32Array>;
  /** Prometheus text exposition, where the server has one. */
  metricsUrl?: string;
  /** Where perf_analyzer reaches it, for a server that speaks Triton's protocol (its HTTP and, where served, gRPC
   *  endpoints as HOST:PORT; grpcMissing says why gRPC was asked for and is not there). */
  perfAnalyzer?: { model: string; http: string; grpc?: string; grpcMissing?: string };
  /** Intra-op threads the model runs with, as the server reports it (undefined when it does not say). */
  threads(): number | undefined;
  stop(): Promise<void>;
}
