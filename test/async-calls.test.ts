// Asynchronous calls wait in one queue (the compute thread's) and are settled from there, holding no libuv pool
// thread: fs keeps working while they are queued, they settle in call order whichever model they are for, errors
// arrive as typed JS errors, disposal takes effect at once, and neither process.exit() nor a terminated worker
// thread with calls in flight hangs or crashes.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, DisposedError, tensor, Tensor, VisionTransformer } from '../lib';
import { manifest } from './fixtures';

const LIB = path.join(__dirname, '..', 'dist', 'lib');
const SMALL = manifest.models.small.config;
// Wider than `small`, so that a forward of a batch of 8 takes long enough to see what happens meanwhile.
const MEDIUM = { ...SMALL, numFeatures: 384, numHeads: 6, depth: 4 };

function images(batch: number, value = 0.5): Tensor {
  return tensor(new Float32Array(batch * 3 * 224 * 224).fill(value), [batch, 3, 224, 224]);
}

/** Runs `script` (CommonJS, `lib` bound to vitorch's compiled entry) in a fresh Node process. */
function runNode(script: string, timeoutMs = 60_000) {
  const run = spawnSync(process.execPath, ['-e', `const lib = require(${JSON.stringify(LIB)});\n${script}`], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr, error: run.error };
}

test('queued calls on more models than the pool has threads leave the libuv pool free', async () => {
  // The pool has 4 threads by default; 6 models with a call each would have taken all of them, and a file read
  // would have waited for a forward to finish.
  const models = Array.from({ length: 6 }, () => new VisionTransformer(MEDIUM).eval());
  using input = images(8);
  const settled: number[] = [];
  const calls = models.map((model, i) =>
    model.forwardAsync(input).then((output) => {
      settled.push(i);
      return output;
    }),
  );
  await fs.promises.readFile(__filename);
  await new Promise((resolve) => setImmediate(resolve));
  expect(settled).toEqual([]);
  const outputs = await Promise.all(calls);
  expect(settled).toEqual([0, 1, 2, 3, 4, 5]);
  for (const output of outputs) output.dispose();
  for (const model of models) model.dispose();
});

test('calls on different models settle in the order they were made', async () => {
  const a = new VisionTransformer(SMALL).eval();
  const b = new VisionTransformer(SMALL).eval();
  using input = images(1);
  const order: string[] = [];
  const calls = ['a0', 'b0', 'a1', 'b1', 'a2', 'b2'].map((name) => {
    const model = name.startsWith('a') ? a : b;
    return model.forwardAsync(input).then((output) => {
      order.push(name);
      output.dispose();
    });
  });
  await Promise.all(calls);
  expect(order).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  a.dispose();
  b.dispose();
});

test('a failing call rejects with its typed error and the calls queued after it still run', async () => {
  using model = new VisionTransformer(SMALL).eval();
  using input = images(1);
  const before = model.forwardAsync(input);
  const failing = model.loadStateDictAsync(path.join(__dirname, 'no-such-checkpoint.pth'));
  const after = model.forwardAsync(input);
  (await before).dispose();
  await expect(failing).rejects.toBeInstanceOf(CheckpointError);
  using output = await after;
  expect(output.shape).toEqual([1, 10]);
  expect(() => model.train()).not.toThrow();
});

test('dispose() with calls queued: they all settle, and the model is gone at once', async () => {
  const model = new VisionTransformer(MEDIUM).eval();
  using input = images(1);
  const calls = Array.from({ length: 8 }, () => model.forwardAsync(input));
  // The weights stay alive until the queued calls settle; the handle is disposed now.
  model.dispose();
  expect(model.disposed).toBe(true);
  expect(() => model.forwardAsync(input)).toThrow(DisposedError);
  const outputs = await Promise.all(calls);
  for (const output of outputs) {
    expect(output.shape).toEqual([1, 10]);
    output.dispose();
  }
});

test('a pending call keeps the process alive until it settles, and nothing else does', () => {
  const run = runNode(`
    const model = new lib.VisionTransformer(${JSON.stringify(SMALL)}).eval();
    const input = lib.tensor(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
    model.forwardAsync(input).then((output) => console.log('settled', output.shape.join('x')));
  `);
  expect(run.error).toBeUndefined();
  expect(run.stdout).toBe('settled 1x10\n');
  expect(run.status).toBe(0);
});

test('process.exit() with calls queued and running neither hangs nor crashes', () => {
  // Without the compute thread stopping first, about one exit in 15 crashed in libtorch's exit-time destructors.
  for (let attempt = 0; attempt < 3; attempt++) {
    const run = runNode(`
      const model = new lib.VisionTransformer(${JSON.stringify(MEDIUM)}).eval();
      const input = lib.tensor(new Float32Array(8 * 3 * 224 * 224), [8, 3, 224, 224]);
      for (let i = 0; i < 20; i++) model.forwardAsync(input);
      setTimeout(() => process.exit(7), 50);
    `);
    expect(run.error).toBeUndefined();
    expect(run.signal).toBeNull();
    expect(run.status).toBe(7);
  }
});

test('after the exit hook, synchronous calls still work and async ones are dropped, not hung', () => {
  const run = runNode(`
    const model = new lib.VisionTransformer(${JSON.stringify(SMALL)}).eval();
    const input = lib.tensor(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
    process.on('exit', () => {
      model.forwardAsync(input);
      console.log('exit', model.forward(input).shape.join('x'));
    });
  `);
  expect(run.error).toBeUndefined();
  expect(run.signal).toBeNull();
  expect(run.stdout).toBe('exit 1x10\n');
  expect(run.status).toBe(0);
});

test('terminating a worker thread with calls queued neither hangs nor crashes, and the main thread carries on', () => {
  const run = runNode(
    `
    const { Worker } = require('worker_threads');
    const worker = new Worker(\`
      const lib = require(${JSON.stringify(LIB)});
      const { parentPort } = require('worker_threads');
      const model = new lib.VisionTransformer(${JSON.stringify(MEDIUM)}).eval();
      const input = lib.tensor(new Float32Array(8 * 3 * 224 * 224), [8, 3, 224, 224]);
      model.forwardAsync(input).then(() => parentPort.postMessage('first'));
      for (let i = 0; i < 10; i++) model.forwardAsync(input);
    \`, { eval: true });
    worker.once('error', (error) => { console.error(error); process.exit(3); });
    worker.once('message', async () => {
      // Terminated with several calls still queued on the compute thread.
      await worker.terminate();
      const model = new lib.VisionTransformer(${JSON.stringify(SMALL)}).eval();
      const input = lib.tensor(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
      const output = await model.forwardAsync(input);
      console.log('main', output.shape.join('x'));
    });
  `,
    120_000,
  );
  expect(run.error).toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.signal).toBeNull();
  expect(run.stdout).toBe('main 1x10\n');
  expect(run.status).toBe(0);
});
