// Checkpoint files without a model: reading the tensors of any checkpoint PyTorch users have (torch.save's zip and
// legacy formats, safetensors), and writing files that PyTorch and safetensors read.
import * as path from 'path';
import { binding, NativeEntries } from './binding';
import { Device, Tensor } from './tensor';
import {
  expected,
  rejectUnknownKeys,
  requireBoolean,
  requireDevice,
  requireObject,
  requireString,
  withCallerStack,
} from './validate';

export type CheckpointFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

export interface LoadCheckpointOptions {
  /** Check the CRC-32 torch.save stores for every record, so a corrupted byte is an error. Default true. */
  verifyChecksums?: boolean;
  /** Take the state dict out of a training checkpoint ({ state_dict: ... }, { model: ... }) and drop a
   *  DataParallel 'module.' prefix, saying so in `notes`. Default true. */
  unwrap?: boolean;
  /** Read a file whose pickle names Python globals outside the allowlist, such as a timm training checkpoint
   *  (`args` is an argparse.Namespace, `metric` a numpy scalar), instead of refusing it as
   *  torch.load(weights_only=True) does. Every such object (os.system and builtins.eval included) becomes an inert
   *  placeholder: nothing is imported or called, no tensor is made from one, and `notes` names every distinct
   *  global skipped. The state dict's values must still be tensors. Default false: refused by name. */
  skipUnknownGlobals?: boolean;
  /** Where the tensors are put. Default 'cpu', whatever device the file records. */
  device?: Device;
}

export interface SaveCheckpointOptions {
  /** 'pth' (torch.save's zip format) or 'safetensors'. Default: from the extension (.pth, .pt, .safetensors). */
  format?: 'pth' | 'safetensors';
  /** safetensors only: the header's __metadata__. */
  metadata?: Record<string, string>;
}

/** The tensors of a checkpoint by name, in file order, with what the file was and what was done to read it. */
export class CheckpointTensors extends Map<string, Tensor> {
  constructor(
    entries: [string, Tensor][],
    readonly format: CheckpointFormat,
    readonly notes: string[],
    readonly metadata: Record<string, string>,
  ) {
    super(entries);
  }

  /** Elements over all tensors. */
  get parameterCount(): number {
    let count = 0;
    for (const value of this.values()) count += value.numel;
    return count;
  }

  /** Frees every tensor. */
  dispose(): void {
    for (const value of this.values()) value.dispose();
  }
}

const LOAD_OPTION_KEYS = ['verifyChecksums', 'unwrap', 'skipUnknownGlobals', 'device'];

function validateLoadOptions(options: unknown) {
  const o = requireObject(options, 'loadCheckpoint options');
  rejectUnknownKeys(o, LOAD_OPTION_KEYS, 'loadCheckpoint options');
  return {
    verifyChecksums: o.verifyChecksums === undefined ? undefined : requireBoolean(o.verifyChecksums, 'verifyChecksums'),
    unwrap: o.unwrap === undefined ? undefined : requireBoolean(o.unwrap, 'unwrap'),
    skipUnknownGlobals:
      o.skipUnknownGlobals === undefined ? undefined : requireBoolean(o.skipUnknownGlobals, 'skipUnknownGlobals'),
    device: o.device === undefined ? undefined : requireDevice(o.device, 'device'),
  };
}

function wrap(loaded: { format: string; entries: NativeEntries; notes: string[]; metadata: Record<string, string> }) {
  return new CheckpointTensors(
    loaded.entries.map(([name, value]) => [name, new Tensor(value)]),
    loaded.format as CheckpointFormat,
    loaded.notes,
    loaded.metadata,
  );
}

/** Reads a checkpoint's tensors on the calling thread. */
export function loadCheckpoint(file: string, options: LoadCheckpointOptions = {}): CheckpointTensors {
  return wrap(binding.loadCheckpoint(requireString(file, 'path'), validateLoadOptions(options)));
}

/** loadCheckpoint on the compute thread, off the event loop. */
export function loadCheckpointAsync(file: string, options: LoadCheckpointOptions = {}): Promise<CheckpointTensors> {
  const callerStack = new Error().stack;
  const reading = binding.loadCheckpointAsync(requireString(file, 'path'), validateLoadOptions(options));
  return withCallerStack(reading.then(wrap), callerStack);
}

function validateSave(
  file: unknown,
  tensors: unknown,
  options: unknown,
): [string, NativeEntries, { format: string; metadata?: Record<string, string> }] {
  const target = requireString(file, 'path');
  if (!(tensors instanceof Map)) throw new TypeError(expected('a Map of name -> Tensor', 'tensors', tensors));
  const entries: NativeEntries = [...tensors].map(([name, value]) => {
    if (typeof name !== 'string' || name === '')
      throw new TypeError(expected('non-empty string keys', 'tensors', name));
    if (!(value instanceof Tensor)) throw new TypeError(expected('a Tensor', `tensors.get('${name}')`, value));
    return [name, value.native];
  });
  const o = requireObject(options, 'saveCheckpoint options');
  rejectUnknownKeys(o, ['format', 'metadata'], 'saveCheckpoint options');
  let format = o.format;
  if (format === undefined) {
    const extension = path.extname(target).toLowerCase();
    if (extension === '.pth' || extension === '.pt') format = 'pth';
    else if (extension === '.safetensors') format = 'safetensors';
    else {
      throw new RangeError(
        `cannot tell the checkpoint format from the extension '${extension}' of ${target}: ` +
          "use .pth, .pt or .safetensors, or pass { format: 'pth' | 'safetensors' }",
      );
    }
  } else if (format !== 'pth' && format !== 'safetensors') {
    throw new RangeError(expected("'pth' or 'safetensors'", 'format', format));
  }
  let metadata: Record<string, string> | undefined;
  if (o.metadata !== undefined) {
    metadata = requireObject(o.metadata, 'metadata') as Record<string, string>;
    if (format !== 'safetensors') throw new RangeError('metadata can only be written to safetensors files');
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new TypeError(expected('string values', `metadata.${key}`, value));
    }
  }
  return [target, entries, { format: format as string, metadata }];
}

/** Writes tensors to a .pth (torch.load(path, weights_only=True) reads it) or .safetensors file, atomically:
 *  a crash or a full disk mid-write leaves any previous file in place. */
export function saveCheckpoint(file: string, tensors: Map<string, Tensor>, options: SaveCheckpointOptions = {}): void {
  binding.saveCheckpoint(...validateSave(file, tensors, options));
}

/** saveCheckpoint on the compute thread, off the event loop. */
export function saveCheckpointAsync(
  file: string,
  tensors: Map<string, Tensor>,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const callerStack = new Error().stack;
  return withCallerStack(binding.saveCheckpointAsync(...validateSave(file, tensors, options)), callerStack);
}
