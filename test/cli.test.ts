// `vitorch inspect FILE` prints format, keys, shapes, dtypes and parameter count; --json for scripts.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { checkpointPath } from './checkpoint-fixtures';
import { fixturePath, manifest } from './fixtures';

const cli = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'vitorch.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('inspect --json describes a state dict', () => {
  const fixture = manifest.models.small;
  const result = run('inspect', fixturePath(fixture.checkpoint), '--json');
  expect(result.status).toBe(0);
  const summary = JSON.parse(result.stdout);
  expect(summary.format).toBe('torch-zip');
  expect(summary.tensors.map((t: { name: string }) => t.name)).toEqual(fixture.parameterNames);
  expect(summary.tensors.map((t: { shape: number[] }) => t.shape)).toEqual(fixture.parameterShapes);
  expect(summary.tensors.every((t: { dtype: string }) => t.dtype === 'float32')).toBe(true);
  const expectedCount = fixture.parameterShapes.reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
  expect(summary.parameterCount).toBe(expectedCount);
});

test('inspect prints a table, with notes for wrapped checkpoints', () => {
  const result = run('inspect', checkpointPath('wrapped-dataparallel-state-dict.pth'));
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/format:\s+torch-zip/);
  expect(result.stdout).toMatch(/note:.*'module\.'/);
  expect(result.stdout).toMatch(/cls_token\s+float32\s+\[1, 1, 64\]/);
});

test('bad files and bad usage exit non-zero with a message', () => {
  const broken = run('inspect', fixturePath(manifest.badCheckpoints.truncated.file));
  expect(broken.status).toBe(1);
  expect(broken.stderr).toContain(manifest.badCheckpoints.truncated.file);
  expect(run('inspect').status).toBe(2);
  expect(run('inspect', 'x.pth', '--yaml').stderr).toMatch(/unknown option --yaml/);
});
