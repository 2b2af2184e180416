// Real servers on loopback for the serving tests: createServer listening on a free port, requests with Node's own
// fetch (no Content-Type unless a test sets one) and the metrics the server exposes, parsed.
import type { FastifyInstance } from 'fastify';
import { createServer, ServerOptions } from '../lib';
import { cosine } from './fixtures';
import { mulberry32 } from './random';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const app = createServer({ logger: false, ...options });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    await app.vitorch.whenReady();
  } catch (error) {
    // A server whose model cannot load is closed here: left listening, it would keep Jest from exiting.
    await app.close();
    throw error;
  }
  return { app, url, close: () => app.close() };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the body as it came off the wire: the tests hold its fields to expected values
  json(): any;
}

export async function request(
  url: string,
  init: { method?: string; body?: Buffer | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? (init.body ? 'POST' : 'GET'),
    body: init.body,
    headers: init.headers,
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, json: () => JSON.parse(body.toString('utf8')) };
}

export function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The V2 request for `samples` inputs of `shape` [n, C, H, W] as JSON data. */
export function inferJson(input: Float32Array, shape: number[], extra: Record<string, unknown> = {}): Buffer {
  return jsonBody({ inputs: [{ name: 'input', datatype: 'FP32', shape, data: Array.from(input) }], ...extra });
}

/** The V2 request for `input` of `shape` [n, C, H, W] as binary tensor data after its JSON header (`extra` joins it). */
export function inferBinary(
  input: Float32Array,
  shape: number[],
  extra: Record<string, unknown> = {},
): { body: Buffer; headers: Record<string, string> } {
  const header = jsonBody({
    inputs: [{ name: 'input', datatype: 'FP32', shape, parameters: { binary_data_size: input.byteLength } }],
    ...extra,
  });
  return {
    body: Buffer.concat([header, Buffer.from(input.buffer, input.byteOffset, input.byteLength)]),
    headers: { 'Inference-Header-Content-Length': String(header.length) },
  };
}

/** The V2 model metadata of the embedded default model, served as 'vit'. */
export const EMBEDDED_MODEL_METADATA = {
  name: 'vit',
  versions: ['1'],
  platform: 'pytorch_libtorch',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  parameters: { precision: 'float32 on cpu' },
};

/** One sample value of a Prometheus text exposition, e.g. metric(text, 'vitorch_batch_size_count'). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return 0;
}

export async function metrics(url: string): Promise<string> {
  return (await request(`${url}/metrics`)).body.toString('utf8');
}

/** The cosine of the angle between row `row` of two [rows, width] logit matrices: how closely a reduced precision's
 *  logits point the way float32's do, whatever their scale. */
export function rowCosine(a: Float32Array, b: Float32Array, width: number, row: number): number {
  const rowOf = (values: Float32Array) => values.subarray(row * width, (row + 1) * width);
  return cosine(rowOf(a), rowOf(b));
}

/** Seeded floats in [-1, 1), so every run sends the same inputs. */
export function seededFloats(count: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => next() * 2 - 1);
}

export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
