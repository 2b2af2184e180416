// Training checkpoints that pickle more than tensors, read with skipUnknownGlobals. timm's model_best.pth.tar (made
// by timm's own CheckpointSaver) holds an argparse.Namespace, numpy scalars, optimizer state and an EMA state dict
// beside the state dict: refused by name by default, naming the global torch.load(weights_only=True) names; with the
// option, the state dict's tensors are PyTorch's bit for bit, the notes name every skipped global, and the model
// gives PyTorch's output. Files calling os.system and builtins.eval run nothing, and no placeholder passes for a
// tensor.
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, loadCheckpoint, loadCheckpointAsync, tensor, VisionTransformer } from '../lib';
import { checkpointManifest as m, checkpointPath, expectedBytes, tensorBytes } from './checkpoint-fixtures';
import { PARITY_TOLERANCE, readFloat32, relativeMaxError } from './fixtures';

const FORMAT_NAMES = { zip: 'torch-zip', legacy: 'torch-legacy' } as const;
const skip = { skipUnknownGlobals: true };
const readF32 = (file: string, shape: number[]) => readFloat32(path.join('checkpoints', file), shape);

function caught(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe.each(m.timm.checkpoints.map((c) => [c.format, c] as const))(
  'timm model_best.pth.tar, %s format',
  (format, file) => {
    const file_ = checkpointPath(file.file);

    test('is refused by default, naming the global torch.load(weights_only=True) refuses', async () => {
      const error = caught(() => loadCheckpoint(file_));
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.message).toContain(file.file);
      expect(error.message).toContain(`refusing to load global '${file.refusedGlobal}'`);
      await expect(loadCheckpointAsync(file_)).rejects.toThrow(`'${file.refusedGlobal}'`);
      using model = new VisionTransformer(m.small.config as never);
      expect(() => model.loadStateDict(file_)).toThrow(CheckpointError);
      await expect(model.loadStateDictAsync(file_)).rejects.toThrow(`'${file.refusedGlobal}'`);
    });

    test('with skipUnknownGlobals: the state dict PyTorch saved, bit for bit, and notes naming what was skipped', async () => {
      for (const tensors of [loadCheckpoint(file_, skip), await loadCheckpointAsync(file_, skip)]) {
        expect(tensors.format).toBe(FORMAT_NAMES[format]);
        expect([...tensors.keys()]).toEqual(m.small.keys);
        for (const entry of m.small.entries) {
          const value = tensors.get(entry.name)!;
          expect(value.dtype).toBe(entry.dtype);
          expect(value.shape).toEqual(entry.shape);
          expect([entry.name, tensorBytes(value).equals(expectedBytes(entry))]).toEqual([entry.name, true]);
        }
        const [skipped, unwrapped] = tensors.notes;
        expect(tensors.notes).toHaveLength(2);
        expect(skipped).toContain(
          `skipped the objects of ${m.timm.unknownGlobals.length} globals outside the allowlist`,
        );
        expect(skipped).toContain('nothing was imported or called');
        for (const name of m.timm.unknownGlobals) expect(skipped).toContain(name);
        expect(unwrapped).toContain(`took the state dict under '${m.timm.stateDictKey}'`);
        for (const key of m.timm.topLevelKeys.filter((k) => k !== m.timm.stateDictKey))
          expect(unwrapped).toContain(key);
        tensors.dispose();
      }
    });

    test("with skipUnknownGlobals: the model loads it strictly and gives PyTorch's output", async () => {
      // The EMA's weights differ from the state dict's, so taking the wrong one would show in the output.
      expect(m.timm.emaDiffers).toBe(true);
      const input = readF32(m.small.input, m.small.inputShape);
      const expected = readF32(m.small.output, m.small.outputShape);
      for (const load of [
        (model: VisionTransformer) => Promise.resolve(model.loadStateDict(file_, skip)),
        (model: VisionTransformer) => model.loadStateDictAsync(file_, { strict: true, ...skip }),
      ]) {
        using model = new VisionTransformer(m.small.config as never);
        const report = await load(model);
        expect(report.missingKeys).toEqual([]);
        expect(report.unexpectedKeys).toEqual([]);
        for (const name of m.timm.unknownGlobals) expect(report.notes.join('\n')).toContain(name);
        model.eval();
        using x = tensor(input, m.small.inputShape);
        using output = model.forward(x);
        expect(relativeMaxError(output.toFloat32Array(), expected)).toBeLessThanOrEqual(PARITY_TOLERANCE);
      }
    });
  },
);

test('skipUnknownGlobals must be a boolean', () => {
  const file = checkpointPath(m.timm.checkpoints[0].file);
  expect(() => loadCheckpoint(file, { skipUnknownGlobals: 'yes' as never })).toThrow(TypeError);
  using model = new VisionTransformer(m.small.config as never);
  expect(() => model.loadStateDict(file, { skipUnknownGlobals: 1 as never })).toThrow(TypeError);
});

describe('calls of os.system and builtins.eval with skipUnknownGlobals', () => {
  const cases = Object.entries(m.hostileSkipped);

  test.each(cases)('%s: refused by default, naming the global torch refuses', (_name, hostile) => {
    fs.rmSync(hostile.marker, { force: true });
    const error = caught(() => loadCheckpoint(checkpointPath(hostile.file)));
    expect(error).toBeInstanceOf(CheckpointError);
    // As the pickle writes it (protocol 2: __builtin__.eval), where torch says builtins.eval.
    expect(error.message).toContain(`refusing to load global '${hostile.globals[0]}'`);
    expect(hostile.globals[0].split('.').pop()).toBe(hostile.refusedGlobal.split('.').pop());
    expect(fs.existsSync(hostile.marker)).toBe(false);
  });

  test.each(cases.filter(([, c]) => c.loads))(
    '%s: nothing runs; the notes name every call; the real tensors load',
    (_name, hostile) => {
      fs.rmSync(hostile.marker, { force: true });
      const tensors = loadCheckpoint(checkpointPath(hostile.file), skip);
      expect(fs.existsSync(hostile.marker)).toBe(false);
      expect([...tensors.keys()]).toEqual(hostile.entries!.map((e) => e.name));
      for (const entry of hostile.entries!)
        expect(tensorBytes(tensors.get(entry.name)!).equals(expectedBytes(entry))).toBe(true);
      expect(tensors.notes[0]).toContain(`skipped the objects of ${hostile.globals.length} globals`);
      for (const name of hostile.globals) expect(tensors.notes[0]).toContain(name);
      tensors.dispose();
    },
  );

  test.each(cases.filter(([, c]) => !c.loads))(
    '%s: a placeholder in the state dict is an error naming the key and the global, never a tensor',
    async (_name, hostile) => {
      fs.rmSync(hostile.marker, { force: true });
      const file = checkpointPath(hostile.file);
      for (const error of [
        caught(() => loadCheckpoint(file, skip)),
        await loadCheckpointAsync(file, skip).catch((e: Error) => e),
      ]) {
        expect(error).toBeInstanceOf(CheckpointError);
        expect(error.message).toContain(hostile.file);
        expect(error.message).toContain(`'${hostile.key}'`);
        expect(error.message).toContain(hostile.globals[0]);
        expect(error.message).toContain('not a tensor');
      }
      // Without unwrapping, the dict of the file itself is not a state dict either.
      expect(() => loadCheckpoint(file, { ...skip, unwrap: false })).toThrow(CheckpointError);
      using model = new VisionTransformer(m.small.config as never);
      expect(() => model.loadStateDict(file, { ...skip, strict: false })).toThrow(CheckpointError);
      expect(fs.existsSync(hostile.marker)).toBe(false);
    },
  );
});
