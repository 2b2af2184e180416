// Access to the checkpoint-format fixtures tools/make_checkpoint_fixtures.py writes: the same tensors in every
// format torch and safetensors write, wrapped training checkpoints, adaptation cases and broken files.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../lib';

export const CHECKPOINTS = path.join(__dirname, 'fixtures', 'generated', 'checkpoints');

export interface TensorEntry { name: string; dtype: string; shape: number[]; file: string }
interface SharedStorage { keys: string[]; sameTensor: boolean }
interface FormatFile { format: 'zip' | 'legacy' | 'safetensors'; file: string; keys: string[]; metadata?: Record<string, string> }
interface BrokenFile { file: string; format: string; problem: string; errorWords: string[]; marker?: string }

export interface CheckpointManifest {
  dtypes: { entries: TensorEntry[]; sharedStorage: SharedStorage[]; checkpoints: FormatFile[] };
  locations: { file: string; location: string; entries: TensorEntry[] };
  small: {
    config: Record<string, unknown>; keys: string[]; entries: TensorEntry[];
    input: string; inputShape: number[]; output: string; outputShape: number[];
    checkpoints: { name: string; file: string; format: string; stateDictKey: string | null; keyPrefix: string; expectedKeys: string[] }[];
  };
  adaptation: {
    posEmbed: { file: string; config: Record<string, unknown>; adapted: TensorEntry; input: string; inputShape: number[]; output: string; outputShape: number[]; checkpointShape: number[] };
    head: { file: string; config: Record<string, unknown>; skipped: string[]; input: string; inputShape: number[]; features: string; featuresShape: number[] };
  };
  fuzzSeeds: { checkpoints: { format: string; file: string; size: number }[] };
  broken: Record<string, BrokenFile>;
}

export const checkpointManifest: CheckpointManifest =
  JSON.parse(fs.readFileSync(path.join(CHECKPOINTS, 'manifest.json'), 'utf8'));

export function checkpointPath(file: string): string {
  return path.join(CHECKPOINTS, file);
}

/** The tensor's elements as bytes (row-major), for bit-exact comparison (NaN payloads and -0 included). */
export function tensorBytes(value: Tensor): Buffer {
  const array = value.toTypedArray();
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

export function expectedBytes(entry: TensorEntry): Buffer {
  return fs.readFileSync(checkpointPath(entry.file));
}
