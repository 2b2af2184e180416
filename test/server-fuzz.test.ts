// A seeded fuzz of the server: a few hundred requests with random methods, paths, headers and bodies (random bytes,
// mutated inference requests in JSON and binary form, mangled images), plus raw garbage on a socket. The server
// must answer each with a valid result or a JSON {"error": "..."} of a 4xx/503 status, never a 500, never a crash
// or hang, and still be live and correct afterwards.
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import { defaultModelImages } from '../lib';
import { inferJson, jsonBody, request, RunningServer, seededFloats, startServer } from './server-fixtures';
import { SeededRandom, seededRandom } from './random';

const SAMPLE_SIZE = 28 * 28;
const REQUESTS = 300;
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ maxBatch: 4, maxDelayMs: 1, maxQueue: 16, bodyLimit: 256 * 1024, timeoutMs: 5000 });
});
afterAll(() => server.close());

const PATHS = [
  '/v2',
  '/v2/health/live',
  '/v2/health/ready',
  '/v2/models/vit',
  '/v2/models/vit/ready',
  '/v2/models/vit/config',
  '/v2/models/vit/infer',
  '/v2/models/vit/versions/1/infer',
  '/v2/models/vit/versions/2/infer',
  '/v2/models/other/infer',
  '/v1/classify',
  '/v1/classify?k=3',
  '/v1/classify?k=-1',
  '/v1/classify?resize=letterbox',
  '/metrics',
  '/v2/models/%00/infer',
  '/v2/models/' + 'x'.repeat(300),
  '/nope',
  '/v2/models/vit/infer?x=%zz',
];
const CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/octet-stream',
  'image/png',
  'image/jpeg',
  'text/plain',
  'multipart/form-data; boundary=z',
  'application/json; charset=utf-8',
  'image/webp',
  '*/*',
  'application/x-www-form-urlencoded',
];

function mutateJson(value: unknown, r: SeededRandom, depth = 0): unknown {
  const replacements = [
    null,
    true,
    -1,
    0,
    1e308,
    'FP32',
    'input',
    [],
    {},
    [1, 2],
    { binary_data_size: 3136 },
    'x'.repeat(100),
  ];
  if (r.next() < 0.15 || depth > 4) return r.pick(replacements);
  if (Array.isArray(value))
    return value.length > 50 ? value.slice(0, r.int(value.length + 10)) : value.map((v) => mutateJson(v, r, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (r.next() < 0.1) continue;
      out[r.next() < 0.05 ? `${k}_` : k] = r.next() < 0.3 ? mutateJson(v, r, depth + 1) : v;
    }
    return out;
  }
  return r.next() < 0.5 ? value : r.pick(replacements);
}

function randomBody(r: SeededRandom, png: Buffer): { body?: Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  const contentType = r.pick(CONTENT_TYPES);
  if (contentType) headers['content-type'] = contentType;
  const input = seededFloats(SAMPLE_SIZE, r.int(1000));
  const valid = {
    id: String(r.int(100)),
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(input) }],
    outputs: [{ name: 'logits', parameters: { classification: 1 + r.int(10), binary_data: r.next() < 0.5 } }],
  };
  let body: Buffer | undefined;
  switch (r.int(8)) {
    case 0:
      body = undefined;
      break;
    case 1:
      body = Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256)));
      break;
    case 2:
      body = jsonBody(mutateJson(valid, r));
      break;
    case 3:
      body = inferJson(input, [1, 1, 28, 28]);
      break;
    case 4: {
      const header = jsonBody(
        mutateJson(
          {
            inputs: [
              { name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], parameters: { binary_data_size: 3136 } },
            ],
          },
          r,
        ),
      );
      body = Buffer.concat([header, Buffer.from(input.buffer).subarray(0, r.next() < 0.7 ? 3136 : r.int(4000))]);
      headers['inference-header-content-length'] =
        r.next() < 0.7 ? String(header.length) : r.pick(['-1', 'abc', '1e3', String(r.int(8000)), '', ' 12 ']);
      break;
    }
    case 5: {
      const bytes = Buffer.from(png);
      for (let i = 0; i < 1 + r.int(20); i++) bytes[r.int(bytes.length)] = r.int(256);
      body = r.next() < 0.3 ? bytes.subarray(0, r.int(bytes.length)) : bytes;
      break;
    }
    case 6:
      body = jsonBody({
        image: r.next() < 0.5 ? png.toString('base64') : png.subarray(0, r.int(png.length)).toString('base64'),
        k: r.pick([1, 0, 11, '3', null]),
      });
      break;
    default:
      body = Buffer.alloc(r.pick([300 * 1024, 10, 0]), r.int(256));
  }
  if (r.next() < 0.1) headers['content-encoding'] = r.pick(['gzip', 'deflate', 'br', 'identity', 'x']);
  if (r.next() < 0.2) headers['x-request-id'] = `fuzz-${r.int(1e6)}`;
  if (r.next() < 0.05) headers.expect = '100-continue';
  return { body, headers };
}

function send(
  method: string,
  route: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: route,
        headers: { ...headers, ...(body ? { 'content-length': body.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A 200 answer must be a well-formed result for its route; anything else a JSON error. */
function check(
  method: string,
  route: string,
  answer: { status: number; headers: http.IncomingHttpHeaders; body: Buffer },
): string | null {
  const what = `${method} ${route} -> ${answer.status}`;
  if (![200, 400, 404, 413, 414, 415, 503].includes(answer.status)) return `${what}: unexpected status`;
  if (method === 'HEAD') return null;
  if (route.startsWith('/metrics') && answer.status === 200)
    return /^# HELP/m.test(answer.body.toString()) ? null : `${what}: not metrics`;
  const headerLength = answer.headers['inference-header-content-length'];
  const jsonPart = headerLength === undefined ? answer.body : answer.body.subarray(0, Number(headerLength));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a fuzzed request's answer, whatever JSON it is, is checked for its shape below
  let json: any;
  try {
    json = JSON.parse(jsonPart.toString('utf8'));
  } catch {
    return `${what}: body is not JSON: ${answer.body.subarray(0, 80).toString()}`;
  }
  if (answer.status !== 200 && !(route.includes('ready') && answer.status === 400 && json.ready === false)) {
    return typeof json.error === 'string' && json.error.length > 0
      ? null
      : `${what}: no error message: ${JSON.stringify(json).slice(0, 200)}`;
  }
  if (route.includes('/infer') && answer.status === 200) {
    const output = json.outputs?.[0];
    if (!output || output.name !== 'logits' || !Array.isArray(output.shape))
      return `${what}: malformed inference response`;
    const bytes = output.parameters?.binary_data_size;
    if (bytes !== undefined && answer.body.length - Number(headerLength) !== bytes)
      return `${what}: binary size mismatch`;
  }
  if (route.startsWith('/v1/classify') && answer.status === 200 && !Array.isArray(json.top)) return `${what}: no top-k`;
  return null;
}

test(`${REQUESTS} seeded random requests: every answer a result or a JSON error, never a 500`, async () => {
  const r = seededRandom(20261201);
  const png = fs.readFileSync(defaultModelImages()[0].file);
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  // Eight at a time, so some of them batch and queue together.
  for (let start = 0; start < REQUESTS; start += 8) {
    const batch = Array.from({ length: Math.min(8, REQUESTS - start) }, () => {
      const method = r.pick(['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']);
      const route = r.pick(PATHS);
      const { body, headers } =
        method === 'GET' || method === 'HEAD' ? { body: undefined, headers: {} } : randomBody(r, png);
      return send(method, route, body, headers).then(
        (answer) => {
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const problem = check(method, route, answer);
          if (problem) problems.push(problem);
        },
        (error: Error) => problems.push(`${method} ${route}: ${error.message}`),
      );
    });
    await Promise.all(batch);
  }
  expect(problems).toEqual([]);
  // The fuzz reached both sides: results and errors.
  expect(statuses.get(200)).toBeGreaterThan(20);
  expect(statuses.get(400)).toBeGreaterThan(20);

  // Raw garbage on a socket: the HTTP parser refuses it and the server lives on.
  for (const garbage of [
    '\x00\x01\x02\r\n\r\n',
    'POST /v2/models/vit/infer HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
    'GET / HTTP/9.9\r\n\r\n',
    'POST /v1/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  ]) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.end(garbage));
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
  }
  expect((await request(`${server.url}/v2/health/ready`)).json()).toEqual({ ready: true });
  const after = await request(`${server.url}/v2/models/vit/infer`, {
    body: inferJson(new Float32Array(SAMPLE_SIZE), [1, 1, 28, 28]),
  });
  expect(after.status).toBe(200);
});
