// Strict loading reports every missing key, unexpected key and shape mismatch, by name and shape, in one error;
// the broken checkpoints and the expected lists come from tools/make_fixtures.py.
import { loadCheckpoint, StateDictError, Tensor, VisionTransformer } from '../lib';
import { fixturePath, manifest } from './fixtures';

const bad = manifest.badCheckpoints;

function smallModel(): VisionTransformer {
  return new VisionTransformer(manifest.models.small.config);
}

function loadError(file: string, strict = true): StateDictError {
  using model = smallModel();
  try {
    model.loadStateDict(fixturePath(file), { strict });
  } catch (error) {
    expect(error).toBeInstanceOf(StateDictError);
    return error as StateDictError;
  }
  throw new Error(`loading ${file} did not fail`);
}

const shape = (dims: number[]) => `[${dims.join(', ')}]`;

test('a missing key is named with its shape', () => {
  const { message } = loadError(bad.missingKey.file);
  for (const key of bad.missingKey.missing)
    expect(message).toMatch(new RegExp(`missing keys[^]*${key.replace(/\./g, '\\.')} \\[`));
});

test('an unexpected key is named', () => {
  const { message } = loadError(bad.unexpectedKey.file);
  for (const key of bad.unexpectedKey.unexpected) expect(message).toContain(key);
  expect(message).toContain('unexpected keys (1)');
});

test('a shape mismatch names the key and both shapes', () => {
  const { message } = loadError(bad.shapeMismatch.file);
  expect(message).toContain(
    `${bad.shapeMismatch.key}: checkpoint has ${shape(bad.shapeMismatch.checkpointShape)}, ` +
      `model expects ${shape(bad.shapeMismatch.expectedShape)}`,
  );
});

test('every problem of a checkpoint is listed in one error', () => {
  const { message } = loadError(bad.allWrong.file);
  for (const key of bad.allWrong.missing) expect(message).toContain(key);
  for (const key of bad.allWrong.unexpected) expect(message).toContain(key);
  for (const mismatch of bad.allWrong.shapeMismatch) {
    expect(message).toContain(
      `${mismatch.key}: checkpoint has ${shape(mismatch.checkpointShape)}, ` +
        `model expects ${shape(mismatch.expectedShape)}`,
    );
  }
});

test('a failed load changes nothing', () => {
  using model = smallModel();
  const before = model.namedParameters().map(([, value]) => value.toFloat32Array());
  expect(() => model.loadStateDict(fixturePath(bad.allWrong.file))).toThrow(StateDictError);
  const after = model.namedParameters().map(([, value]) => value.toFloat32Array());
  expect(after).toEqual(before);
});

test('non-strict loading returns the missing and unexpected keys and loads the rest', () => {
  using model = smallModel();
  const report = model.loadStateDict(fixturePath(bad.missingKey.file), { strict: false });
  expect(report).toEqual({ missingKeys: bad.missingKey.missing, unexpectedKeys: [], notes: [] });
  const checkpoint = loadCheckpoint(fixturePath(bad.missingKey.file));
  const parameters = new Map(model.namedParameters());
  for (const [name, value] of checkpoint) {
    expect(parameters.get(name)!.toFloat32Array()).toEqual(value.toFloat32Array());
  }
  expect(model.loadStateDict(fixturePath(bad.unexpectedKey.file), { strict: false })).toEqual({
    missingKeys: [],
    unexpectedKeys: bad.unexpectedKey.unexpected,
    notes: [],
  });
});

test('non-strict loading still refuses a shape mismatch, as PyTorch does', () => {
  loadError(bad.shapeMismatch.file, false);
});

test('a Map of tensors loads like a file, and stateDict() round-trips', async () => {
  using source = smallModel();
  await source.loadStateDictAsync(fixturePath(manifest.models.small.checkpoint));
  const state: Map<string, Tensor> = source.stateDict();
  expect([...state.keys()]).toEqual(manifest.models.small.parameterNames);
  using target = smallModel();
  expect(target.loadStateDict(state)).toEqual({ missingKeys: [], unexpectedKeys: [], notes: [] });
  const loaded = new Map(target.namedParameters());
  for (const [name, value] of state) expect(loaded.get(name)!.toFloat32Array()).toEqual(value.toFloat32Array());
});

test('loadStateDictAsync reports the same errors as a rejected promise', async () => {
  using model = smallModel();
  await expect(model.loadStateDictAsync(fixturePath(bad.allWrong.file))).rejects.toThrow(StateDictError);
});
