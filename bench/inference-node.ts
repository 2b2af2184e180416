// The Node contestants of bench/inference.ts, one per process. Prints one JSON line on stdout at the end.
//
//   vitorch-sync    model.forward on the main thread
//   vitorch-async   await model.forwardAsync (a libuv pool thread), the call a server makes
//   vitorch-bf16    model.to({ dtype: 'bfloat16' }) and a bfloat16 input, forward
//   vitorch-fp16    the same in float16
//   vitorch-int8    model.quantize() (dynamic int8) and the float32 input, forwardAsync, as `serve --dtype int8` runs it
//   onnxruntime     onnxruntime-node's CPU provider on tools/export_onnx.py's graph of the same model
//   onnxruntime-int8  the same on tools/quantize_onnx.py's dynamic int8 graph (--onnx names that file)
//
//   node dist/bench/inference-node.js --contestant NAME --weights W.pth --onnx O.onnx --batch B --threads T
//       --warmup W --reps N --input FILE.f32 [--save-output FILE.f32]
//
// Only the model call is timed: the input tensor is made once beforehand, as the Python contestants make theirs.
import * as fs from 'fs';
import type { InferencePrecision, Tensor } from '../lib';
import { NODE_CONTESTANTS, NodeContestant } from './node-contestants';
import { choiceFlag, integerFlag, parseArgs, runMain, stringFlag, UsageError } from './run-main';

const IMAGE_SHAPE = [3, 224, 224];

interface Arguments {
  contestant: NodeContestant;
  weights: string;
  onnx: string;
  batch: number;
  threads: number;
  warmup: number;
  reps: number;
  input: string;
  saveOutput?: string;
}

const runsOnnxruntime = (contestant: NodeContestant) => contestant.startsWith('onnxruntime');

function parseArguments(argv: string[]): Arguments {
  const parsed = parseArgs(
    argv,
    ['contestant', 'weights', 'onnx', 'batch', 'threads', 'warmup', 'reps', 'input', 'save-output'],
    [],
    { overrides: false, positionals: false },
  );
  const required = <T>(name: string, value: T | undefined): T => {
    if (value === undefined) throw new UsageError(`--${name} is required`);
    return value;
  };
  const text = (name: string) => required(name, stringFlag(parsed, name));
  const count = (name: string) => required(name, integerFlag(parsed, name, 0));
  const contestant = required('contestant', choiceFlag(parsed, 'contestant', NODE_CONTESTANTS));
  return {
    contestant,
    weights: runsOnnxruntime(contestant) ? '' : text('weights'),
    onnx: runsOnnxruntime(contestant) ? text('onnx') : '',
    batch: count('batch'),
    threads: count('threads'),
    warmup: integerFlag(parsed, 'warmup', 0) ?? 2,
    reps: count('reps'),
    input: text('input'),
    saveOutput: stringFlag(parsed, 'save-output'),
  };
}

function readImages(file: string, batch: number): Float32Array {
  const bytes = fs.readFileSync(file);
  const expected = batch * IMAGE_SHAPE.reduce((a, b) => a * b);
  if (bytes.byteLength !== expected * 4)
    throw new Error(`${file} holds ${bytes.byteLength / 4} floats, expected ${expected}`);
  // Copied into its own buffer: a Float32Array view needs 4-byte alignment, which a Buffer does not promise.
  // The file is little-endian, as every machine this benchmark targets is.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

interface Timing {
  seconds: number[];
  logits: Float32Array | undefined;
}

/** Runs `step` warmup + reps times; keeps the last call's logits (extracted outside the clock). */
async function timeIterations<T>(
  step: () => T | Promise<T>,
  logitsOf: (result: T) => Float32Array,
  release: (result: T) => void,
  warmup: number,
  reps: number,
): Promise<Timing> {
  const seconds: number[] = [];
  let logits: Float32Array | undefined;
  for (let i = 0; i < warmup + reps; i++) {
    const started = process.hrtime.bigint();
    const result = await step();
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    if (i >= warmup) seconds.push(elapsed);
    if (i === warmup + reps - 1) logits = logitsOf(result);
    release(result);
  }
  return { seconds, logits };
}

async function runVitorch(args: Arguments, images: Float32Array): Promise<Timing & Record<string, unknown>> {
  // Loaded here, not at the top, so that the onnxruntime contestant's process holds no libtorch and its threads.
  const { libtorchVersion, setNumThreads, vit } = await import('../lib');
  const { applyInferencePrecision, modelInput } = await import('../lib/inference-precision');
  setNumThreads(args.threads);
  const model = vit({ pretrained: args.weights, numClasses: 1000 });
  model.eval();
  const precisions: Partial<Record<NodeContestant, InferencePrecision>> = {
    'vitorch-bf16': 'bfloat16',
    'vitorch-fp16': 'float16',
    'vitorch-int8': 'int8',
  };
  const dtype = precisions[args.contestant] ?? 'float32';
  if (dtype !== 'float32') applyInferencePrecision(model, dtype);
  // The weights' dtype; float32 for the quantized model, which quantizes its activations itself.
  const input = modelInput(model, images, [args.batch, ...IMAGE_SHAPE]);
  const logitsOf = (output: Tensor): Float32Array => {
    if (output.dtype === 'float32') return output.toTypedArray() as Float32Array;
    const converted = output.to('float32');
    try {
      return converted.toTypedArray() as Float32Array;
    } finally {
      converted.dispose();
    }
  };
  const asynchronous = args.contestant === 'vitorch-async' || args.contestant === 'vitorch-int8';
  const step = asynchronous ? () => model.forwardAsync(input) : () => model.forward(input);
  const timing = await timeIterations(step, logitsOf, (output) => output.dispose(), args.warmup, args.reps);
  input.dispose();
  model.dispose();
  return { ...timing, dtype, libtorchVersion };
}

async function runOnnxruntime(args: Arguments, images: Float32Array): Promise<Timing & Record<string, unknown>> {
  // Loaded here, not at the top, so that the vitorch contestants run where the devDependency is not installed.
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(args.onnx, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const input = new ort.Tensor('float32', images, [args.batch, ...IMAGE_SHAPE]);
  const timing = await timeIterations(
    () => session.run({ images: input }),
    (outputs) => outputs.logits.data as Float32Array,
    (outputs) => {
      for (const output of Object.values(outputs)) output.dispose();
    },
    args.warmup,
    args.reps,
  );
  await session.release();
  return {
    ...timing,
    dtype: args.contestant === 'onnxruntime-int8' ? 'int8' : 'float32',
    onnxruntimeVersion: ort.env.versions.node ?? ort.env.versions.common,
  };
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const images = readImages(args.input, args.batch);
  const run = runsOnnxruntime(args.contestant) ? runOnnxruntime : runVitorch;
  const { logits, ...result } = await run(args, images);
  if (args.saveOutput && logits)
    fs.writeFileSync(args.saveOutput, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
  console.log(JSON.stringify({ contestant: args.contestant, batch: args.batch, threads: args.threads, ...result }));
}

runMain('inference-node', main);
