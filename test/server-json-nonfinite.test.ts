// NaN and the infinities in JSON inference requests and responses, read and written as Triton does (its TritonJson
// parses with rapidjson's kParseNanAndInfFlag and writes with kWriteNanAndInfFlag; lib/server/json-nonfinite.ts).
// Real clients send them: Python's json.dumps and tritonclient.http (tools/nonfinite_client.py). The oracle for what
// reached the model is the same values sent as binary tensor data, which never went through JSON.
import { parseJsonAllowingNonFinite, stringifyJsonAllowingNonFinite } from '../lib/server/json-nonfinite';
import { pythonClientReport } from './python';
import { inferBinary, request, RunningServer, seededFloats, startServer } from './server-fixtures';

let server: RunningServer;
let inferUrl: string;
const SHAPE = [1, 1, 28, 28];
const SIZE = 28 * 28;

beforeAll(async () => {
  server = await startServer({ maxBatch: 4, maxDelayMs: 0 });
  inferUrl = `${server.url}/v2/models/vit/infer`;
});
afterAll(() => server.close());

/** The logits the server answers for `input` sent as binary tensor data, asked back in binary. */
async function binaryLogits(input: Float32Array): Promise<Float32Array> {
  const { body, headers } = inferBinary(input, SHAPE, {
    outputs: [{ name: 'logits', parameters: { binary_data: true } }],
  });
  const answer = await request(inferUrl, { body, headers });
  expect(answer.status).toBe(200);
  const jsonLength = Number(answer.headers.get('inference-header-content-length'));
  const bytes = answer.body.subarray(jsonLength);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** A JSON request whose data is written by hand, so that NaN and the infinities appear as bare literals. */
function literalRequest(values: Float32Array, head = ''): Buffer {
  const data = Array.from(values, (v) =>
    Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : '-Infinity',
  );
  return Buffer.from(
    `{${head}"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":[${data.join(',')}]}]}`,
  );
}

function readLogits(body: Buffer): Float32Array {
  const answer = parseJsonAllowingNonFinite(body.toString('utf8')) as { outputs: { data: number[] }[] };
  return Float32Array.from(answer.outputs[0].data);
}

test('the literals reach the model as the same float32 values binary data carries, NaN logits written as NaN', async () => {
  const input = seededFloats(SIZE, 11);
  input[5] = NaN;
  input[6] = Infinity;
  input[7] = -Infinity;
  const answer = await request(inferUrl, { body: literalRequest(input) });
  expect(answer.status).toBe(200);
  const text = answer.body.toString('utf8');
  // A NaN anywhere in the image reaches every logit through attention: all of them are NaN, written as Triton does.
  expect(text).toMatch(/"data":\[NaN(,NaN){9}\]/);
  expect(text).not.toContain('null');
  expect(readLogits(answer.body)).toEqual(await binaryLogits(input));
});

test('finite data read on the tolerant path gives exactly the logits of the ordinary one', async () => {
  const input = seededFloats(SIZE, 12);
  // An unquoted NaN in a parameter the server ignores sends the whole request through the tolerant parser.
  const tolerant = await request(inferUrl, { body: literalRequest(input, '"id":"NaN","parameters":{"note":NaN},') });
  const ordinary = await request(inferUrl, { body: literalRequest(input, '"id":"NaN",') });
  expect(tolerant.status).toBe(200);
  expect(ordinary.status).toBe(200);
  expect(tolerant.body.equals(ordinary.body)).toBe(true);
  // A NaN inside a string stays a string.
  expect(tolerant.json().id).toBe('NaN');
  expect(readLogits(tolerant.body)).toEqual(await binaryLogits(input));
});

test('a non-finite literal where an integer is expected, and malformed JSON, are 400s naming what and where', async () => {
  const input = seededFloats(SIZE, 13);
  const timeout = await request(inferUrl, { body: literalRequest(input, '"parameters":{"timeout":Infinity},') });
  expect(timeout.status).toBe(400);
  expect(timeout.json().error).toBe(
    'expected a positive integer (microseconds) for parameters.timeout, received number Infinity',
  );
  const cases: [string, string][] = [
    ['{"inputs": [1, 2,, 3]}', "expected a value at position 17, found ', 3]}'"],
    ['{"inputs": [1, nan]}', "expected a value at position 15, found 'nan]}'"],
    ['{"inputs": [Infinit]}', "expected ',' or ']' at position 15, found 'init]}'"],
    ['{"inputs": "NaN}', "unterminated string at position 11, found '\"NaN}'"],
    ['{"inputs": [NaN]} x', "unexpected text after the JSON value at position 18, found 'x'"],
  ];
  for (const [body, where] of cases) {
    const answer = await request(inferUrl, { body: Buffer.from(body) });
    expect({ body, status: answer.status, error: answer.json().error }).toEqual({
      body,
      status: 400,
      error: `the inference request is not valid JSON: ${where}`,
    });
  }
});

test('the writer: NaN, Infinity and -Infinity where JSON.stringify writes null, everything else as it writes it', () => {
  const value = { a: [1.5, NaN, Infinity, -Infinity, null, 'null', undefined], b: undefined, c: { d: 'NaN' } };
  expect(stringifyJsonAllowingNonFinite(value)).toBe(
    '{"a":[1.5,NaN,Infinity,-Infinity,null,"null",null],"c":{"d":"NaN"}}',
  );
  const plain = { model_name: 'vit', outputs: [{ data: [0.25, -3] }] };
  expect(stringifyJsonAllowingNonFinite(plain)).toBe(JSON.stringify(plain));
  // rapidjson's other spellings are read too; deep nesting cannot overflow the stack.
  expect(parseJsonAllowingNonFinite('[-NaN, Inf, -Inf]')).toEqual([NaN, Infinity, -Infinity]);
  const deep = parseJsonAllowingNonFinite(`${'['.repeat(100_000)}NaN${']'.repeat(100_000)}`);
  expect(Array.isArray(deep)).toBe(true);
  // A member named __proto__ is a member, as JSON.parse makes it, not the object's prototype.
  const proto = parseJsonAllowingNonFinite('{"__proto__": {"x": NaN}}') as Record<string, unknown>;
  expect(Object.keys(proto)).toEqual(['__proto__']);
  expect((proto as { x?: unknown }).x).toBeUndefined();
});

test("Python clients' NaN and infinities (json.dumps, tritonclient.http) are read, and NaN logits come back to them", async () => {
  const report = await pythonClientReport<{
    input: (number | string)[];
    json_dumps: { status: number; logits?: (number | string)[]; literals_in_body?: boolean; error?: string };
    tritonclient: { status: number | string; logits?: (number | string)[]; error?: string };
  }>('nonfinite_client.py', ['--url', new URL(server.url).host, '--model', 'vit']);
  const spelled = (v: number | string) =>
    typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity;
  const input = Float32Array.from(report.input.map(spelled));
  expect([input[3], input[10], input[20]]).toEqual([NaN, Infinity, -Infinity]);
  const expected = Array.from(await binaryLogits(input));
  expect(report.json_dumps).toEqual({ status: 200, logits: expect.any(Array), literals_in_body: true });
  expect(report.json_dumps.logits!.map(spelled)).toEqual(expected);
  expect(report.tritonclient).toEqual({ status: 200, logits: expect.any(Array) });
  expect(report.tritonclient.logits!.map(spelled)).toEqual(expected);
});
