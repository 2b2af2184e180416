// Access to the checkpoint-format fixtures tools/make_checkpoint_fixtures.py writes: the same tensors in every
// format torch and safetensors write, wrapped training checkpoints, adaptation cases and broken files.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../lib';

export const CHECKPOINTS = path.join(__dirname, 'fixtures', 'generated', 'checkpoints');

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
}
interface SharedStorage {
  keys: string[];
  sameTensor: boolean;
}
interface FormatFile {
  format: 'zip' | 'legacy' | 'safetensors';
  file: string;
  keys: string[];
  metadata?: Record<string, string>;
}
interface BrokenFile {
  file: string;
  format: string;
  problem: string;
  marker?: string;
}
/** Broken files, each with the facts its exact error message names. */
interface BrokenFiles {
  safetensorsHugeHeader: BrokenFile & { claimedHeaderLength: number; bytesAfterLength: number };
  zipRecordBeyondEnd: BrokenFile & { record: string; claimedOffset: number; centralDirectoryOffset: number };
  unknownOpcode: BrokenFile & { record: string; opcode: number; pickleOffset: number };
  globalEval: BrokenFile & { global: string; marker: string };
  legacyTruncated: BrokenFile & {
    size: number;
    storage: { key: string; dtype: string; elements: number; elementSize: number; offset: number };
  };
}
interface FuzzSeed {
  format: string;
  file: string;
  size: number;
}
/** torch.load(weights_only=True)'s refusal of a file, and the global it names. */
interface TorchRefusal {
  refusedGlobal: string;
  torchMessage: string;
}
interface HostileSkipped extends TorchRefusal {
  file: string;
  loads: boolean;
  globals: string[];
  marker: string;
  key?: string;
  entries?: TensorEntry[];
}

export interface CheckpointManifest {
  dtypes: { entries: TensorEntry[]; sharedStorage: SharedStorage[]; checkpoints: FormatFile[] };
  locations: { file: string; location: string; entries: TensorEntry[] };
  small: {
    config: Record<string, unknown>;
    keys: string[];
    entries: TensorEntry[];
    input: string;
    inputShape: number[];
    output: string;
    outputShape: number[];
    checkpoints: {
      name: string;
      file: string;
      format: string;
      stateDictKey: string | null;
      keyPrefix: string;
      expectedKeys: string[];
    }[];
  };
  adaptation: {
    posEmbed: {
      file: string;
      config: Record<string, unknown>;
      adapted: TensorEntry;
      input: string;
      inputShape: number[];
      output: string;
      outputShape: number[];
      checkpointShape: number[];
    };
    head: {
      file: string;
      config: Record<string, unknown>;
      skipped: string[];
      input: string;
      inputShape: number[];
      features: string;
      featuresShape: number[];
    };
  };
  fuzzSeeds: { checkpoints: FuzzSeed[]; skipUnknownGlobals: FuzzSeed[] };
  /** timm's CheckpointSaver's model_best.pth.tar of the small model (and the same object in the legacy format). */
  timm: {
    checkpoints: ({ file: string; format: 'zip' | 'legacy' } & TorchRefusal)[];
    topLevelKeys: string[];
    stateDictKey: string;
    unknownGlobals: string[];
    metric: number;
    epoch: number;
    arch: string;
    emaDiffers: boolean;
  };
  /** Files calling os.system / builtins.eval, for skipUnknownGlobals. */
  hostileSkipped: Record<string, HostileSkipped>;
  broken: BrokenFiles;
}

export const checkpointManifest: CheckpointManifest = JSON.parse(
  fs.readFileSync(path.join(CHECKPOINTS, 'manifest.json'), 'utf8'),
);

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
