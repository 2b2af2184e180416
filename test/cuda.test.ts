// The CUDA paths, run where a CUDA device is visible (bench/gpu.sh runs this file and the inference benchmark on a
// GPU machine) and reported as skipped elsewhere: parity with PyTorch's float32 outputs in float32, bfloat16 and
// float16, forwardAsync, checkpoints loaded onto 'cuda', moving a model between devices, and the errors. On a
// machine without one, the one test that runs checks that vitorch and PyTorch agree there is no device.
import { spawnSync } from 'child_process';
import { cuda, loadCheckpoint, ModelDType, Tensor, VisionTransformer } from '../lib';
import {
  argmaxPerRow,
  CaseFixture,
  fixturePath,
  manifest,
  readFloat32,
  readTensor,
  relativeMaxError,
} from './fixtures';
import { expectThrows } from './expect-error';

const visible = cuda.isAvailable();
const onCuda = visible ? describe : describe.skip;
const skipNote = visible ? '' : ' [skipped: no CUDA device visible]';

// cuDNN's convolutions (the patch embedding) use TF32 on Ampere and newer GPUs by default, in libtorch as in
// PyTorch: 10 mantissa bits there, so float32 on CUDA is held to 1e-3 of the output's scale instead of the CPU's 1e-4.
// bfloat16 keeps 8 significant bits, float16 11 (as in test/inference.test.ts).
const TOLERANCE: Record<'float32' | 'bfloat16' | 'float16', number> = { float32: 1e-3, bfloat16: 5e-2, float16: 1e-2 };
const CASES = ['small-b3', 'grid-10x18-b2', 'variant-p32-grid-8x6-b2', 'vit-b16-b2'];

function caseNamed(name: string): CaseFixture {
  const fixture = manifest.cases.find((c) => c.name === name);
  if (!fixture) throw new Error(`no fixture case ${name}`);
  return fixture;
}

function loadModel(fixture: CaseFixture): VisionTransformer {
  const modelFixture = manifest.models[fixture.model];
  const model = new VisionTransformer(modelFixture.config).eval();
  model.loadStateDict(fixturePath(modelFixture.checkpoint), { strict: true });
  return model;
}

function errorAgainstPyTorch(output: Tensor, fixture: CaseFixture): number {
  return relativeMaxError(output.toFloat32Array(), readFloat32(fixture.output, fixture.outputShape));
}

if (!visible) {
  test('no CUDA device is visible here, as PyTorch also sees: the CUDA suites below are skipped', () => {
    const torch = spawnSync(process.env.PYTHON || 'python3', ['-c', 'import torch; print(torch.cuda.device_count())'], {
      encoding: 'utf8',
    });
    expect(torch.status).toBe(0);
    expect(cuda.deviceCount()).toBe(Number(torch.stdout.trim()));
    expect(cuda.deviceCount()).toBe(0);
  });
}

onCuda(`forward on CUDA against PyTorch's float32 outputs${skipNote}`, () => {
  describe.each(['float32', 'bfloat16', 'float16'] as const)('%s', (dtype) => {
    test.each(CASES.filter((name) => manifest.cases.some((c) => c.name === name)))('%s', (name) => {
      const fixture = caseNamed(name);
      using model = loadModel(fixture).to({ device: 'cuda', dtype });
      expect(model.device).toBe('cuda:0');
      expect(model.dtype).toBe(dtype);
      using input = readTensor(fixture.input, fixture.inputShape);
      using onDevice = input.to({ device: 'cuda', dtype });
      using output = model.forward(onDevice);
      expect(output.device).toBe('cuda:0');
      expect(output.dtype).toBe(dtype);
      expect(errorAgainstPyTorch(output, fixture)).toBeLessThanOrEqual(TOLERANCE[dtype]);
      const values = output.toFloat32Array();
      expect(argmaxPerRow(values, fixture.outputShape[1])).toEqual(
        argmaxPerRow(readFloat32(fixture.output, fixture.outputShape), fixture.outputShape[1]),
      );
    });
  });

  test("forwardAsync gives forward's numbers, in call order", async () => {
    const fixture = caseNamed('small-b3');
    using model = loadModel(fixture).to('cuda');
    using input = readTensor(fixture.input, fixture.inputShape);
    using onDevice = input.to('cuda');
    using sync = model.forward(onDevice);
    const outputs = await Promise.all([1, 2, 3].map(() => model.forwardAsync(onDevice)));
    for (const output of outputs) {
      expect(relativeMaxError(output.toFloat32Array(), sync.toFloat32Array())).toBe(0);
      output.dispose();
    }
  });
});

onCuda(`checkpoints and devices${skipNote}`, () => {
  test("a checkpoint loads onto 'cuda' with the bytes it holds, and a model takes it there", () => {
    const fixture = caseNamed('small-b3');
    const file = fixturePath(manifest.models[fixture.model].checkpoint);
    const onCpu = loadCheckpoint(file);
    const onGpu = loadCheckpoint(file, { device: 'cuda' });
    try {
      for (const [name, value] of onCpu) {
        const gpuValue = onGpu.get(name)!;
        expect(gpuValue.device).toBe('cuda:0');
        expect(gpuValue.toFloat32Array()).toEqual(value.toFloat32Array());
      }
      using model = new VisionTransformer(manifest.models[fixture.model].config).to('cuda').eval();
      model.loadStateDict(onGpu);
      using input = readTensor(fixture.input, fixture.inputShape);
      using onDevice = input.to('cuda');
      using output = model.forward(onDevice);
      expect(errorAgainstPyTorch(output, fixture)).toBeLessThanOrEqual(TOLERANCE.float32);
    } finally {
      onCpu.dispose();
      onGpu.dispose();
    }
  });

  test("a model moves to CUDA and back, and keeps PyTorch's numbers on both", () => {
    const fixture = caseNamed('grid-10x18-b2');
    using model = loadModel(fixture);
    using input = readTensor(fixture.input, fixture.inputShape);
    model.to('cuda');
    using onDevice = input.to('cuda');
    using gpuOutput = model.forward(onDevice);
    expect(errorAgainstPyTorch(gpuOutput, fixture)).toBeLessThanOrEqual(TOLERANCE.float32);
    model.to('cpu');
    expect(model.device).toBe('cpu');
    using cpuOutput = model.forward(input);
    expect(errorAgainstPyTorch(cpuOutput, fixture)).toBeLessThanOrEqual(1e-4);
  });

  test('errors: an input on the other device, a device index past the GPUs', () => {
    const fixture = caseNamed('small-b3');
    using model = loadModel(fixture).to('cuda');
    using input = readTensor(fixture.input, fixture.inputShape);
    expectThrows(() => model.forward(input), RangeError, "expected input on cuda:0 (the model's device), received cpu");
    const past = `cuda:${cuda.deviceCount()}`;
    expectThrows(
      () => model.to(past),
      RangeError,
      `expected a CUDA device index below ${cuda.deviceCount()} (the number of visible GPUs), received '${past}'`,
    );
    expect(model.device).toBe('cuda:0');
    const dtypes: ModelDType[] = ['bfloat16', 'float16'];
    for (const dtype of dtypes) {
      model.to(dtype);
      using wrong = input.to('cuda');
      expectThrows(
        () => model.forward(wrong),
        TypeError,
        `expected input of dtype ${dtype} (the model's dtype), received float32`,
      );
    }
  });
});
