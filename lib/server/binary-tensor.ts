// The binary tensor data extension of the Open Inference Protocol (Triton's "binary_tensor_data"): a body is the
// JSON request or response, then the raw bytes of the tensors that say `"binary_data_size": n` in their parameters,
// in the order the tensors are listed; the Inference-Header-Content-Length header gives the JSON's length. Raw
// bytes are little-endian, row-major; a BYTES element is a 4-byte little-endian length and then its bytes.
import { BadRequestError } from './errors';
import { parseJsonAllowingNonFinite } from './json-nonfinite';

export const HEADER_LENGTH = 'inference-header-content-length';

export interface SplitBody {
  json: unknown;
  /** The bytes after the JSON (empty when the body is JSON only). */
  binary: Buffer;
}

/** Splits a request body at `headerLength` (the Inference-Header-Content-Length header, if sent) and parses the
 *  JSON part. */
export function splitBody(body: Buffer, headerLength: string | string[] | undefined): SplitBody {
  let jsonLength = body.length;
  if (headerLength !== undefined) {
    const text = Array.isArray(headerLength) ? headerLength[0] : headerLength;
    const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n > body.length) {
      throw new BadRequestError(
        `expected Inference-Header-Content-Length to be a byte count no larger than the body ` +
          `(${body.length} bytes), received '${text.slice(0, 40)}'`,
      );
    }
    jsonLength = n;
  }
  if (jsonLength === 0) throw new BadRequestError('the inference request is empty: expected a JSON object');
  let json: unknown;
  try {
    // NaN and the infinities as Triton reads them (json-nonfinite.ts); plain JSON.parse first.
    json = parseJsonAllowingNonFinite(body.toString('utf8', 0, jsonLength));
  } catch (error) {
    throw new BadRequestError(
      `the inference request is not valid JSON${
        headerLength === undefined
          ? ''
          : ' (its first ' + `${jsonLength} bytes, as Inference-Header-Content-Length says)`
      }: ${(error as Error).message}`,
    );
  }
  return { json, binary: body.subarray(jsonLength) };
}

/** Reads consecutive tensors' bytes from the binary part, checking that all of it is used. */
export class BinaryReader {
  private offset = 0;
  constructor(private readonly binary: Buffer) {}

  take(bytes: number, tensorName: string): Buffer {
    if (this.offset + bytes > this.binary.length) {
      throw new BadRequestError(
        `input '${tensorName}' says binary_data_size ${bytes}, but only ` +
          `${this.binary.length - this.offset} bytes of binary data are left in the body`,
      );
    }
    const chunk = this.binary.subarray(this.offset, this.offset + bytes);
    this.offset += bytes;
    return chunk;
  }

  finish(): void {
    if (this.offset !== this.binary.length) {
      throw new BadRequestError(
        `${this.binary.length - this.offset} bytes of binary data follow the JSON that no input ` +
          'claims (binary_data_size)',
      );
    }
  }
}

/** FP32 values left in the request body's bytes (little-endian, any alignment): ServedModel.toInput makes the
 *  tensor straight from them, so the only copy on the event loop is the one into the tensor. */
export interface Float32Bytes {
  readonly littleEndianFloat32: Uint8Array;
}

/** A binary FP32 tensor's data, copied nowhere yet where the host is little-endian; a big-endian host gets the
 *  values converted (float32FromBytes). */
export function float32Data(bytes: Buffer): Float32Bytes | Float32Array {
  return LITTLE_ENDIAN ? { littleEndianFloat32: bytes } : float32FromBytes(bytes);
}

/** Little-endian float32 values of `bytes` (a copy, so the result is aligned whatever the body's offset). */
export function float32FromBytes(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  if (!LITTLE_ENDIAN) for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

export function float32ToBytes(values: Float32Array): Buffer {
  if (!LITTLE_ENDIAN) {
    const out = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => out.writeFloatLE(v, i * 4));
    return out;
  }
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** BYTES elements as the extension lays them out: each a uint32 LE length and then its UTF-8 bytes. */
export function bytesElementsToBuffer(elements: string[]): Buffer {
  const encoded = elements.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(encoded.reduce((n, b) => n + 4 + b.length, 0));
  let offset = 0;
  for (const b of encoded) {
    out.writeUInt32LE(b.length, offset);
    b.copy(out, offset + 4);
    offset += 4 + b.length;
  }
  return out;
}

/** The response body: the JSON, then the binary chunks in output order; `headerLength` goes in
 *  Inference-Header-Content-Length. */
export function joinBody(json: unknown, chunks: Buffer[]): { body: Buffer; headerLength: number } {
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
