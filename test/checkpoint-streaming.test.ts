// loadStateDict(path) and vit({ pretrained }) read a file's tensors straight into the model's parameters, storage
// by storage, instead of reading the whole file into tensors and copying those: the parameters must come out
// exactly as loadCheckpoint's tensors, whatever the layout (storages shared by several tensors, strided tensors,
// another dtype, every format), and peak memory must stay near one copy of the weights.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointError, loadCheckpoint, saveCheckpoint, Tensor, VisionTransformer } from '../lib';
import { checkpointManifest as m, checkpointPath, tensorBytes } from './checkpoint-fixtures';
import { fixturePath, manifest } from './fixtures';

const root = path.join(__dirname, '..');
let workDir: string;
beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-stream-'));
});
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

function smallModel(): VisionTransformer {
  return new VisionTransformer(m.small.config as never);
}

// The small model's tensors as loadCheckpoint reads them (float32, one storage each).
function expectedParameters(): Map<string, Buffer> {
  const tensors = loadCheckpoint(checkpointPath('small.pth'));
  const bytes = new Map([...tensors].map(([name, value]) => [name, tensorBytes(value)] as const));
  tensors.dispose();
  return bytes;
}

function expectParameters(model: VisionTransformer, expected: Map<string, Buffer>): void {
  const parameters = new Map(model.namedParameters());
  expect([...parameters.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, bytes] of expected) {
    const value: Tensor = parameters.get(name)!;
    expect(value.dtype).toBe('float32');
    expect([name, tensorBytes(value).equals(bytes)]).toEqual([name, true]);
  }
}

// Files PyTorch writes with layouts the fixtures do not have: every tensor a view into one shared storage (zip and
// legacy), 2-D weights saved transposed (strided, not contiguous), and float64.
function writeLayoutsWithPyTorch(): void {
  const script = `
import sys, torch
source, out = sys.argv[1], sys.argv[2]
state = torch.load(source, weights_only=True)
flat = torch.cat([value.flatten() for value in state.values()])
shared, offset = {}, 0
for key, value in state.items():
    shared[key] = flat[offset:offset + value.numel()].view(value.shape)
    offset += value.numel()
torch.save(shared, out + '/shared.pth')
torch.save(shared, out + '/shared-legacy.pth', _use_new_zipfile_serialization=False)
torch.save({k: v.t().contiguous().t() if v.dim() == 2 else v for k, v in state.items()}, out + '/strided.pth')
torch.save({k: v.double() for k, v in state.items()}, out + '/float64.pth')
`;
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'python.js'), '-c', script, checkpointPath('small.pth'), workDir],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`writing the layouts failed:\n${run.stdout}${run.stderr}`);
}

test('every format and layout loads into the parameters exactly as loadCheckpoint reads it', async () => {
  writeLayoutsWithPyTorch();
  const source = loadCheckpoint(checkpointPath('small.pth'));
  const float64 = new Map([...source].map(([name, value]) => [name, value.to('float64')] as const));
  saveCheckpoint(path.join(workDir, 'float64.safetensors'), float64, { format: 'safetensors' });
  float64.forEach((value) => value.dispose());
  source.dispose();

  const expected = expectedParameters();
  const files = [
    ...m.small.checkpoints.map((file) => checkpointPath(file.file)),
    ...['shared.pth', 'shared-legacy.pth', 'strided.pth', 'float64.pth', 'float64.safetensors'].map((file) =>
      path.join(workDir, file),
    ),
  ];
  for (const file of files) {
    using model = smallModel();
    expect([file, model.loadStateDict(file).missingKeys]).toEqual([file, []]);
    expectParameters(model, expected);
    using again = smallModel();
    await again.loadStateDictAsync(file);
    expectParameters(again, expected);
  }
});

test('non-strict loading skips what the model does not take and loads the rest', () => {
  using model = smallModel();
  const report = model.loadStateDict(fixturePath(manifest.badCheckpoints.unexpectedKey.file), { strict: false });
  expect(report.unexpectedKeys).toEqual(manifest.badCheckpoints.unexpectedKey.unexpected);
  const checkpoint = loadCheckpoint(fixturePath(manifest.badCheckpoints.unexpectedKey.file));
  const parameters = new Map(model.namedParameters());
  for (const [name, value] of checkpoint) {
    if (parameters.has(name)) expect(tensorBytes(parameters.get(name)!).equals(tensorBytes(value))).toBe(true);
  }
  checkpoint.dispose();
});

test('a CRC mismatch in the last record leaves a live model untouched', () => {
  // Corrupt the last tensor in the file: streaming alone would have written every other one into the model by then.
  const original = fs.readFileSync(checkpointPath('small.pth'));
  const tensors = loadCheckpoint(checkpointPath('small.pth'));
  const last = tensorBytes(tensors.get(m.small.keys[m.small.keys.length - 1])!);
  tensors.dispose();
  const at = original.indexOf(last);
  expect(at).toBeGreaterThan(0);
  const corrupt = Buffer.from(original);
  corrupt[at] ^= 0x01;
  const file = path.join(workDir, 'corrupt.pth');
  fs.writeFileSync(file, corrupt);

  using model = smallModel();
  const before = model.namedParameters().map(([, value]) => tensorBytes(value));
  expect(() => model.loadStateDict(file)).toThrow(CheckpointError);
  expect(() => model.loadStateDict(file)).toThrow(/CRC-32/);
  const after = model.namedParameters().map(([, value]) => tensorBytes(value));
  after.forEach((bytes, i) => expect(bytes.equals(before[i])).toBe(true));
});

test('peak memory stays near one copy of the weights (ViT-B/16, zip)', () => {
  // In a fresh process, so that its peak resident size is the load's own. VmHWM is reset between the two loads.
  const script = `
const fs = require('fs');
const { vit, VisionTransformer } = require(${JSON.stringify(path.join(root, 'dist', 'lib'))});
const kib = (field) => Number(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(field + ':')).split(/\\s+/)[1]) * 1024;
const file = process.argv[1];
let before = kib('VmRSS');
const built = vit({ pretrained: file });
const factory = kib('VmHWM') - before;
built.dispose();
const model = new VisionTransformer();
fs.writeFileSync('/proc/self/clear_refs', '5');
before = kib('VmRSS');
model.loadStateDict(file);
console.log(JSON.stringify({ factory, loadStateDict: kib('VmHWM') - before }));
`;
  const file = fixturePath(manifest.vitFactory.checkpoint);
  const run = spawnSync(process.execPath, ['-e', script, file], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  const growth = JSON.parse(run.stdout.trim().split('\n').pop()!);
  const size = fs.statSync(file).size;
  expect(growth.factory / size).toBeLessThanOrEqual(1.2);
  expect(growth.loadStateDict / size).toBeLessThanOrEqual(0.2);
});
