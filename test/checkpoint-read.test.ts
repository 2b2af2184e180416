// Reading every checkpoint PyTorch users have, without Python: torch.save's zip format and its legacy format,
// safetensors, every dtype, views and tied weights, CUDA locations, wrapped training checkpoints. Every tensor is
// compared bit for bit with the bytes PyTorch wrote; models loaded from each file give PyTorch's outputs.
import { cuda, loadCheckpoint, loadCheckpointAsync, VisionTransformer } from '../lib';
import { checkpointManifest as m, checkpointPath, expectedBytes, tensorBytes } from './checkpoint-fixtures';
import { PARITY_TOLERANCE, readFloat32, relativeMaxError } from './fixtures';
import * as path from 'path';

const FORMAT_NAMES = { zip: 'torch-zip', legacy: 'torch-legacy', safetensors: 'safetensors' } as const;
const readF32 = (file: string, shape: number[]) => readFloat32(path.join('checkpoints', file), shape);

describe.each(m.dtypes.checkpoints.map((c) => [c.format, c] as const))('every dtype, %s format', (format, file) => {
  const tensors = loadCheckpoint(checkpointPath(file.file));
  afterAll(() => tensors.forEach((t) => t.dispose()));

  test('keys, format and metadata', () => {
    // safetensors keeps no insertion order (Python's writer sorts its entries), so only the set of keys counts.
    const keys = [...tensors.keys()];
    expect(format === 'safetensors' ? keys.sort() : keys).toEqual(
      format === 'safetensors' ? [...file.keys].sort() : file.keys,
    );
    expect(tensors.format).toBe(FORMAT_NAMES[format]);
    if (file.metadata) expect(tensors.metadata).toEqual(file.metadata);
  });

  test.each(m.dtypes.entries.filter((e) => file.keys.includes(e.name)).map((e) => [e.name, e] as const))(
    '%s is bit-exact',
    (_name, entry) => {
      const value = tensors.get(entry.name)!;
      expect(value.dtype).toBe(entry.dtype);
      expect(value.shape).toEqual(entry.shape);
      expect(tensorBytes(value).equals(expectedBytes(entry))).toBe(true);
    },
  );
});

test('CUDA locations load onto the CPU (and onto the device asked for)', () => {
  const tensors = loadCheckpoint(checkpointPath(m.locations.file));
  for (const entry of m.locations.entries) {
    const value = tensors.get(entry.name)!;
    expect(value.device).toBe('cpu');
    expect(tensorBytes(value).equals(expectedBytes(entry))).toBe(true);
  }
  // Where a GPU is visible, test/cuda.test.ts loads checkpoints onto it instead.
  if (!cuda.isAvailable())
    expect(() => loadCheckpoint(checkpointPath(m.locations.file), { device: 'cuda:0' })).toThrow(/CUDA|cuda/);
});

describe.each(m.small.checkpoints.map((c) => [c.name, c] as const))('small model from %s', (_name, file) => {
  test("unwraps to the state dict, says what it did, and gives PyTorch's output", async () => {
    const tensors = await loadCheckpointAsync(checkpointPath(file.file));
    const keys = [...tensors.keys()];
    expect(file.format === 'safetensors' ? keys.sort() : keys).toEqual(
      file.format === 'safetensors' ? [...file.expectedKeys].sort() : file.expectedKeys,
    );
    if (file.stateDictKey) expect(tensors.notes.join('\n')).toContain(`'${file.stateDictKey}'`);
    if (file.keyPrefix) expect(tensors.notes.join('\n')).toContain(`'${file.keyPrefix}'`);
    if (!file.stateDictKey && !file.keyPrefix) expect(tensors.notes).toEqual([]);
    tensors.forEach((t) => t.dispose());

    using model = new VisionTransformer(m.small.config as never);
    const report = await model.loadStateDictAsync(checkpointPath(file.file));
    expect(report.missingKeys).toEqual([]);
    model.eval();
    using input = (await import('../lib')).tensor(readF32(m.small.input, m.small.inputShape), m.small.inputShape);
    using output = model.forward(input);
    expect(relativeMaxError(output.toFloat32Array(), readF32(m.small.output, m.small.outputShape))).toBeLessThanOrEqual(
      PARITY_TOLERANCE,
    );
  });
});

test('checksums are verified by default; the option skips them', () => {
  expect(loadCheckpoint(checkpointPath('small.pth'), { verifyChecksums: false }).size).toBe(m.small.keys.length);
});
