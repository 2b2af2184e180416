// Open Inference Protocol (KServe V2 REST) bodies with the binary tensor extension, as the load sends them to
// `vitorch serve`: a JSON header, then the raw little-endian tensor bytes; the length of the JSON part travels in
// the Inference-Header-Content-Length header. Written here from the extension's specification, independently of
// the server's own parser, so the benchmark is also a client the server did not write.

export const HEADER_LENGTH = 'inference-header-content-length';

export interface EncodedRequest {
  headers: Record<string, string>;
  body: Buffer;
}

/** One FP32 tensor named `input` of `shape`, asking for the `logits` output in binary too. */
export function binaryInferRequest(values: Float32Array, shape: number[]): EncodedRequest {
  const data = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    }),
  );
  return {
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(header.byteLength) },
    body: Buffer.concat([header, data]),
  };
}

interface OutputHeader {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

/** The `logits` output of an infer response, binary or JSON. Throws, naming what it found, when there is none. */
export function logitsFromResponse(body: Buffer, headerLength: string | undefined): Float32Array {
  const jsonLength = headerLength === undefined ? body.byteLength : Number(headerLength);
  const header = JSON.parse(body.subarray(0, jsonLength).toString('utf8')) as { outputs?: OutputHeader[] };
  let offset = jsonLength;
  for (const output of header.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (output.name === 'logits') {
      if (output.datatype !== 'FP32') throw new Error(`logits came as ${output.datatype}, expected FP32`);
      if (size === undefined) return Float32Array.from(output.data ?? []);
      // Copied: a Float32Array view needs 4-byte alignment, which an offset into a Buffer does not promise.
      return new Float32Array(body.buffer.slice(body.byteOffset + offset, body.byteOffset + offset + size));
    }
    offset += size ?? 0;
  }
  throw new Error(`no logits output in the response: ${body.subarray(0, Math.min(jsonLength, 300)).toString('utf8')}`);
}
