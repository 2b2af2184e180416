// Files that are not good checkpoints: each gets a CheckpointError naming the file and what is wrong, and a
// pickle calling a forbidden global is refused before anything runs.
import * as fs from 'fs';
import { CheckpointError, loadCheckpoint, loadCheckpointAsync, VisionTransformer } from '../lib';
import { fixturePath, manifest } from './fixtures';

const bad = manifest.badCheckpoints;

function checkpointError(file: string): CheckpointError {
  try {
    loadCheckpoint(file);
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toContain(file.split('/').pop());
    return error as CheckpointError;
  }
  throw new Error(`${file} loaded`);
}

test('a pickle calling os.system is refused by name and runs nothing', () => {
  fs.rmSync(bad.hostileGlobal.marker, { force: true });
  const { message } = checkpointError(fixturePath(bad.hostileGlobal.file));
  expect(message).toContain(bad.hostileGlobal.global);
  expect(fs.existsSync(bad.hostileGlobal.marker)).toBe(false);
});

test('the legacy (pre-1.6) format loads the same tensors as the zip format', () => {
  const legacy = loadCheckpoint(fixturePath(bad.legacyFormat.file));
  const zip = loadCheckpoint(fixturePath(manifest.models[bad.legacyFormat.model].checkpoint));
  expect(legacy.format).toBe('torch-legacy');
  expect([...legacy.keys()]).toEqual([...zip.keys()]);
  for (const [name, value] of zip) expect(legacy.get(name)!.toFloat32Array()).toEqual(value.toFloat32Array());
  legacy.dispose();
  zip.dispose();
});

test('a text file is not a checkpoint', () => {
  checkpointError(fixturePath(bad.notACheckpoint.file));
});

test('a truncated checkpoint is an error', () => {
  checkpointError(fixturePath(bad.truncated.file));
});

test('a missing file names the path', () => {
  const missing = fixturePath('does-not-exist.pth');
  expect(checkpointError(missing).message).toContain(missing);
});

test('a directory is not a checkpoint', () => {
  checkpointError(fixturePath(''));
});

test('the async readers reject with the same errors', async () => {
  await expect(loadCheckpointAsync(fixturePath(bad.truncated.file))).rejects.toThrow(CheckpointError);
  using model = new VisionTransformer(manifest.models.small.config);
  await expect(model.loadStateDictAsync(fixturePath(bad.hostileGlobal.file))).rejects.toThrow(CheckpointError);
});

test('loadCheckpoint returns every tensor of a state_dict in file order with its shape', () => {
  const fixture = manifest.models.small;
  const tensors = loadCheckpoint(fixturePath(fixture.checkpoint));
  expect([...tensors.keys()]).toEqual(fixture.parameterNames);
  expect([...tensors.values()].map((t) => t.shape)).toEqual(fixture.parameterShapes);
  for (const value of tensors.values()) value.dispose();
});
