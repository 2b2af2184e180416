// A pos_embed saved for another grid and a head for another class count are adapted only when asked, and the
// report says what was done. Expected tensors and outputs come from PyTorch (tools/make_checkpoint_fixtures.py).
import * as path from 'path';
import { StateDictError, tensor, VisionTransformer } from '../lib';
import { checkpointManifest as m, checkpointPath, expectedBytes, tensorBytes } from './checkpoint-fixtures';
import { PARITY_TOLERANCE, readFloat32, relativeMaxError } from './fixtures';

const readF32 = (file: string, shape: number[]) => readFloat32(path.join('checkpoints', file), shape);
const { posEmbed, head } = m.adaptation;

test('a pos_embed for another grid is a shape mismatch unless resamplePosEmbed is set', () => {
  using model = new VisionTransformer(posEmbed.config as never);
  expect(() => model.loadStateDict(checkpointPath(posEmbed.file))).toThrow(StateDictError);
  expect(() => model.loadStateDict(checkpointPath(posEmbed.file))).toThrow(
    /pos_embed: checkpoint has \[1, 577, 64\], model expects \[1, 197, 64\]/,
  );
});

test('resamplePosEmbed resamples it as PyTorch does and notes it', () => {
  using model = new VisionTransformer(posEmbed.config as never);
  const report = model.loadStateDict(checkpointPath(posEmbed.file), { resamplePosEmbed: true });
  expect(report.notes).toHaveLength(1);
  expect(report.notes[0]).toMatch(
    /pos_embed: resampled the checkpoint's 24x24 position grid \[1, 577, 64\] to the model's 14x14 \[1, 197, 64\]/,
  );
  const table = new Map(model.namedParameters()).get('pos_embed')!;
  expect(
    relativeMaxError(table.toFloat32Array(), new Float32Array(new Uint8Array(expectedBytes(posEmbed.adapted)).buffer)),
  ).toBeLessThanOrEqual(1e-6);
  model.eval();
  using input = tensor(readF32(posEmbed.input, posEmbed.inputShape), posEmbed.inputShape);
  using output = model.forward(input);
  expect(relativeMaxError(output.toFloat32Array(), readF32(posEmbed.output, posEmbed.outputShape))).toBeLessThanOrEqual(
    PARITY_TOLERANCE,
  );
});

test('a head for another class count is a mismatch unless keepModelHead is set', () => {
  using model = new VisionTransformer(head.config as never);
  expect(() => model.loadStateDict(checkpointPath(head.file))).toThrow(
    /head\.weight: checkpoint has \[1000, 64\], model expects \[10, 64\]/,
  );
  const before = tensorBytes(new Map(model.namedParameters()).get('head.weight')!);
  const report = model.loadStateDict(checkpointPath(head.file), { keepModelHead: true });
  expect(report.notes.map((note) => note.split(':')[0])).toEqual(head.skipped);
  expect(tensorBytes(new Map(model.namedParameters()).get('head.weight')!).equals(before)).toBe(true);
  model.eval();
  using input = tensor(readF32(head.input, head.inputShape), head.inputShape);
  using features = model.forwardFeatures(input);
  expect(relativeMaxError(features.toFloat32Array(), readF32(head.features, head.featuresShape))).toBeLessThanOrEqual(
    PARITY_TOLERANCE,
  );
});
