// The command-line options the serving benchmarks share, and what each run needs before a server starts: the
// checkpoint, the image every request carries, the CPU.
import { ensureCheckpoint, findPython, IMAGE_VALUES, normalImages, writeInputs } from './bench-inputs';
import { parseArgs, UsageError } from './run-main';

export { UsageError };

export interface ServerSettings {
  /** Intra-op threads of every model (vitorch's VITORCH_NUM_THREADS, torch.set_num_threads in TorchServe). */
  threads: number;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
}

/** Each flag: a value or a switch, and its default. */
type Flags = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;

const SERVER_FLAGS: Flags = {
  threads: { type: 'string', default: '2' },
  'max-batch': { type: 'string', default: '16' },
  'max-delay-ms': { type: 'string', default: '50' },
  'max-queue': { type: 'string' },
  'timeout-ms': { type: 'string', default: '120000' },
};

/** The flags' values by name, defaults filled in (lib/cli/args.ts parses). */
export function parseFlags(argv: string[], own: Flags): Record<string, string | boolean | undefined> {
  const flags: Flags = { ...SERVER_FLAGS, ...own };
  const names = Object.keys(flags);
  const parsed = parseArgs(
    argv,
    names.filter((n) => flags[n].type === 'string'),
    names.filter((n) => flags[n].type === 'boolean'),
    { overrides: false, positionals: false },
  );
  return Object.fromEntries(names.map((name) => [name, parsed.flags.get(name) ?? flags[name].default]));
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
