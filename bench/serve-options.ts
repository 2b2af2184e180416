// The command-line options the serving benchmarks share, and what each run needs before a server starts: the
// checkpoint, the image every request carries, the CPU.
import { parseArgs, ParseArgsConfig } from 'util';
import { ensureCheckpoint, findPython, IMAGE_VALUES, normalImages, writeInputs } from './bench-inputs';

/** A mistake on the command line: reported in one line, without a stack. */
export class UsageError extends Error {}

export interface ServerSettings {
  /** Intra-op threads of every model (vitorch's VITORCH_NUM_THREADS, torch.set_num_threads in TorchServe). */
  threads: number;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
}

type Flags = NonNullable<ParseArgsConfig['options']>;

const SERVER_FLAGS: Flags = {
  threads: { type: 'string', default: '2' },
  'max-batch': { type: 'string', default: '16' },
  'max-delay-ms': { type: 'string', default: '50' },
  'max-queue': { type: 'string' },
  'timeout-ms': { type: 'string', default: '120000' },
};

export function parseFlags(argv: string[], own: Flags): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options: { ...SERVER_FLAGS, ...own }, strict: true, allowPositionals: false }).values as
      Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function wholeNumber(values: Record<string, unknown>, name: string, minimum = 1): number {
  const text = values[name];
  const value = Number(text);
  if (typeof text !== 'string' || !Number.isInteger(value) || value < minimum) {
    throw new UsageError(`--${name} needs a whole number >= ${minimum}, got ${String(text)}`);
  }
  return value;
}

export function serverSettings(values: Record<string, unknown>, defaultMaxQueue: number): ServerSettings {
  return {
    threads: wholeNumber(values, 'threads'),
    maxBatch: wholeNumber(values, 'max-batch'),
    maxDelayMs: wholeNumber(values, 'max-delay-ms', 0),
    maxQueue: values['max-queue'] === undefined ? defaultMaxQueue : wholeNumber(values, 'max-queue'),
    timeoutMs: wholeNumber(values, 'timeout-ms'),
  };
}

export interface Prepared {
  python: string;
  weights: string;
  /** The first seeded image, [1, 3, 224, 224]: the body of every load request. */
  image: Float32Array;
  /** model_data/bench-input-b{B}.f32 for the offline sweep. */
  inputs: Map<number, string>;
}

export function prepare(batches: number[]): Prepared {
  const python = findPython();
  const weights = ensureCheckpoint(python);
  const inputs = writeInputs([1, ...batches]);
  // The seeded images of every size start with the same one (bench-input-b1.f32).
  const image = normalImages(IMAGE_VALUES);
  return { python, weights, image, inputs };
}
