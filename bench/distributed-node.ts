// One vitorch rank of bench/distributed.ts: joins the process group from torchrun's environment variables (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT), then takes one JSON command per line on stdin and answers each with one JSON
// line on stdout (diagnostics go to stderr). bench/distributed_torch.py is its PyTorch twin and speaks the same
// commands, so that the driver runs both sides alike:
//
//   {"cmd": "allreduce", "doubles": N, "reps": R}
//       R timed ProcessGroup.allReduceSum calls on N float64 values (a barrier before each), answers {"seconds"} and
//       {"copySeconds"}, the time of the JS copy allReduceSum makes of its argument (Float64Array.from) alone.
//   {"cmd": "allreduce-tensors", "model": {VisionTransformerOptions}, "layout": "flat32" | "buckets" | "tensors",
//    "reps": R}
//       R timed ProcessGroup.allReduce calls (c10d's coalesced all-reduce of Tensors in place, a barrier before
//       each) on float32 tensors shaped like the model's gradients: one flat tensor, DDP's buckets (as
//       distributed_torch.py's ddp_buckets), or one per parameter; answers {"seconds"}.
//   {"cmd": "setup", "model": {VisionTransformerOptions}, "images": "X.f32", "labels": "Y.i32", "batch": B,
//    "lr": ..., "weightDecay": ..., "labelSmoothing": ..., "saveWeights": "W.pth" (rank 0 only)}
//       builds the model (manualSeed(0)), a data-parallel Trainer on the process group and a plain one on the same
//       model, each with its own AdamW; the images file holds the global batch of 2B images: this rank's shard is
//       images [rank B, (rank + 1) B), the whole file is the batch of one process doing all the work.
//   {"cmd": "steps", "mode": "dp" | "solo", "threads": T, "batch": "shard" | "full", "steps": N}
//       N timed steps after setNumThreads(T); answers {"seconds", "losses"} (dp: the loss over every rank's batch).
//   {"cmd": "release"}  drops the model and its Trainers; {"cmd": "quit"} leaves the group and exits.
import * as fs from 'fs';
import { createInterface } from 'readline';
import {
  adamw,
  getNumThreads,
  initProcessGroup,
  libtorchVersion,
  manualSeed,
  ProcessGroup,
  setNumThreads,
  tensor,
  Tensor,
  Trainer,
  VisionTransformer,
} from '../lib';
import type { VisionTransformerOptions } from '../lib';

interface SetupCommand {
  cmd: 'setup';
  model: VisionTransformerOptions;
  images: string;
  labels: string;
  batch: number;
  lr: number;
  weightDecay: number;
  labelSmoothing: number;
  saveWeights?: string;
}
interface StepsCommand {
  cmd: 'steps';
  mode: 'dp' | 'solo';
  threads: number;
  batch: 'shard' | 'full';
  steps: number;
}
interface AllReduceCommand {
  cmd: 'allreduce';
  doubles: number;
  reps: number;
}
interface TensorAllReduceCommand {
  cmd: 'allreduce-tensors';
  model: VisionTransformerOptions;
  layout: 'flat32' | 'buckets' | 'tensors';
  reps: number;
}
type Command =
  SetupCommand | StepsCommand | AllReduceCommand | TensorAllReduceCommand | { cmd: 'release' } | { cmd: 'quit' };

const FIRST_BUCKET_BYTES = 1024 * 1024;
const BUCKET_BYTES = 25 * 1024 * 1024;

/** Element counts of DDP's buckets over float32 gradients of these shapes: reverse parameter order, the first bucket
 *  closed at 1 MiB, later ones at 25 MiB. */
function ddpBuckets(shapes: number[][]): number[] {
  const sizes: number[] = [];
  let current = 0;
  let cap = FIRST_BUCKET_BYTES;
  for (const shape of [...shapes].reverse()) {
    current += shape.reduce((a, b) => a * b, 1);
    if (current * 4 >= cap) {
      sizes.push(current);
      current = 0;
      cap = BUCKET_BYTES;
    }
  }
  if (current > 0) sizes.push(current);
  return sizes;
}

interface Session {
  model: VisionTransformer;
  parallel: Trainer;
  solo: Trainer;
  shard: { images: Tensor; labels: Tensor };
  full: { images: Tensor; labels: Tensor };
}

function readArray<T extends Float32Array | Int32Array>(file: string, make: (buffer: ArrayBuffer) => T): T {
  const bytes = fs.readFileSync(file);
  return make(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function setup(group: ProcessGroup, command: SetupCommand): { session: Session; answer: Record<string, unknown> } {
  manualSeed(0);
  const model = new VisionTransformer(command.model);
  model.train();
  if (command.saveWeights) model.saveStateDict(command.saveWeights);
  const o = model.options;
  const imageValues = o.inChans * o.inputShape[0] * o.inputShape[1];
  const images = readArray(command.images, (b) => new Float32Array(b));
  const labels = readArray(command.labels, (b) => new Int32Array(b));
  const { batch } = command;
  const global = batch * group.worldSize;
  if (images.length !== global * imageValues || labels.length !== global) {
    throw new RangeError(
      `expected ${global} images and labels, the files hold ${images.length / imageValues} and ${labels.length}`,
    );
  }
  const start = group.rank * batch;
  const shape = [o.inChans, ...o.inputShape];
  const optimizer = () => adamw(model, { lr: command.lr, weightDecay: command.weightDecay });
  const session: Session = {
    model,
    parallel: new Trainer(model, {
      optimizer: optimizer(),
      labelSmoothing: command.labelSmoothing,
      processGroup: group,
    }),
    solo: new Trainer(model, { optimizer: optimizer(), labelSmoothing: command.labelSmoothing }),
    shard: {
      images: tensor(images.subarray(start * imageValues, (start + batch) * imageValues), [batch, ...shape]),
      labels: tensor(labels.subarray(start, start + batch), [batch]),
    },
    full: { images: tensor(images, [global, ...shape]), labels: tensor(labels, [global]) },
  };
  return { session, answer: { parameters: model.parameterCount, libtorchVersion } };
}

async function steps(session: Session, command: StepsCommand) {
  if (getNumThreads() !== command.threads) setNumThreads(command.threads);
  const trainer = command.mode === 'dp' ? session.parallel : session.solo;
  const { images, labels } = command.batch === 'full' ? session.full : session.shard;
  const seconds: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < command.steps; i++) {
    const started = performance.now();
    const result = await trainer.step(images, labels);
    seconds.push((performance.now() - started) / 1000);
    losses.push(result.global.loss);
  }
  return { seconds, losses, threads: getNumThreads() };
}

async function allReduce(group: ProcessGroup, command: AllReduceCommand) {
  // What a caller hands allReduceSum: a Float64Array, which it copies (Float64Array.from) before the native call.
  const values = new Float64Array(command.doubles).fill(group.rank + 1);
  const expected = (group.worldSize * (group.worldSize + 1)) / 2;
  const seconds: number[] = [];
  for (let i = 0; i < command.reps; i++) {
    await group.barrier();
    const started = performance.now();
    const sums = await group.allReduceSum(values);
    seconds.push((performance.now() - started) / 1000);
    if (sums[0] !== expected || sums[sums.length - 1] !== expected) {
      throw new Error(`allReduceSum gave ${sums[0]}, expected ${expected}`);
    }
  }
  // The copy allReduceSum makes of its argument, timed alone once: a share of the call's time.
  const started = performance.now();
  Float64Array.from(values);
  return { seconds, copySeconds: (performance.now() - started) / 1000 };
}

async function allReduceTensors(group: ProcessGroup, command: TensorAllReduceCommand) {
  const model = new VisionTransformer(command.model);
  const shapes = model.namedParameters().map(([, p]) => p.shape);
  model.dispose();
  const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const layout: number[][] =
    command.layout === 'flat32'
      ? [[shapes.reduce((n, shape) => n + count(shape), 0)]]
      : command.layout === 'buckets'
        ? ddpBuckets(shapes).map((n) => [n])
        : shapes;
  const tensors = layout.map((shape) => tensor(new Float32Array(count(shape)).fill(group.rank + 1), shape));
  const seconds: number[] = [];
  for (let i = 0; i < command.reps; i++) {
    await group.barrier();
    const started = performance.now();
    await group.allReduce(tensors);
    seconds.push((performance.now() - started) / 1000);
  }
  // Every element went through the same sums: (1 + 2) after the first, doubled by each one after.
  const expected = ((group.worldSize * (group.worldSize + 1)) / 2) * group.worldSize ** (command.reps - 1);
  const first = tensors[0].toFloat32Array()[0];
  for (const t of tensors) t.dispose();
  if (first !== expected) throw new Error(`allReduce gave ${first}, expected ${expected}`);
  return { seconds, tensors: layout.length };
}

function dispose(session: Session | null): void {
  if (!session) return;
  session.parallel.dispose();
  session.solo.dispose();
  for (const t of [session.shard.images, session.shard.labels, session.full.images, session.full.labels]) t.dispose();
  session.model.dispose();
}

async function main(): Promise<void> {
  const group = await initProcessGroup({ timeoutMs: 300_000 });
  const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  answer({ ready: true, rank: group.rank, worldSize: group.worldSize, threads: getNumThreads() });
  let session: Session | null = null;
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as Command;
    try {
      if (command.cmd === 'quit') break;
      if (command.cmd === 'setup') {
        dispose(session);
        session = null;
        const made = setup(group, command);
        session = made.session;
        answer(made.answer);
      } else if (command.cmd === 'steps') {
        if (!session) throw new Error('steps before setup');
        answer(await steps(session, command));
      } else if (command.cmd === 'allreduce') {
        answer(await allReduce(group, command));
      } else if (command.cmd === 'allreduce-tensors') {
        answer(await allReduceTensors(group, command));
      } else if (command.cmd === 'release') {
        dispose(session);
        session = null;
        answer({});
      } else {
        throw new Error(`unknown command ${(command as { cmd: string }).cmd}`);
      }
    } catch (error) {
      answer({ error: (error as Error).stack ?? String(error) });
    }
  }
  dispose(session);
  group.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
