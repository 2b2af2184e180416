// Writing checkpoints PyTorch reads: every dtype and the model's state dict, in .pth (torch.load(weights_only=True)
// and the seed model's load_state_dict(strict=True) accept it) and .safetensors (the safetensors library reads it),
// judged by tools/check_written_checkpoint.py; and writes are atomic.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CheckpointError,
  loadCheckpoint,
  saveCheckpoint,
  saveCheckpointAsync,
  tensor,
  VisionTransformer,
} from '../lib';
import { CHECKPOINTS, checkpointManifest as m, checkpointPath, tensorBytes } from './checkpoint-fixtures';

const root = path.join(__dirname, '..');
const manifestFile = path.join(CHECKPOINTS, 'manifest.json');
let workDir: string;
beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-write-'));
});
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

function pythonJudges(...args: string[]): void {
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'python.js'), path.join(root, 'tools', 'check_written_checkpoint.py'), ...args],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`check_written_checkpoint.py says:\n${run.stdout}${run.stderr}`);
}

test.each(['pth', 'safetensors'])(
  'every dtype round-trips through a .%s file Python reads bit for bit',
  async (extension) => {
    const source = loadCheckpoint(checkpointPath('dtypes.pth'));
    const target = path.join(workDir, `dtypes.${extension}`);
    await saveCheckpointAsync(
      target,
      source,
      extension === 'safetensors' ? { metadata: { format: 'pt', written_by: 'vitorch' } } : {},
    );
    pythonJudges('--file', target, '--expected', `${manifestFile}#dtypes.entries`, '--bin-dir', CHECKPOINTS);
    const reread = loadCheckpoint(target);
    expect([...reread.keys()]).toEqual([...source.keys()]);
    for (const [name, value] of source) expect(tensorBytes(reread.get(name)!).equals(tensorBytes(value))).toBe(true);
    if (extension === 'safetensors') expect(reread.metadata).toEqual({ format: 'pt', written_by: 'vitorch' });
    source.dispose();
    reread.dispose();
  },
);

test('model.saveStateDict writes a file the seed model loads strictly, with the same outputs', () => {
  using model = new VisionTransformer(m.small.config as never);
  model.loadStateDict(checkpointPath('small.pth'));
  const target = path.join(workDir, 'small-from-vitorch.pth');
  model.saveStateDict(target);
  pythonJudges(
    '--file',
    target,
    '--expected',
    `${manifestFile}#small.entries`,
    '--bin-dir',
    CHECKPOINTS,
    '--model-config',
    `${manifestFile}#small.config`,
    '--input',
    checkpointPath(m.small.input),
    '--output',
    checkpointPath(m.small.output),
  );
});

test('writes are atomic: a failed write leaves the previous file and no temporary file behind', () => {
  const target = path.join(workDir, 'atomic.pth');
  using good = tensor(Float32Array.of(1, 2, 3), [3]);
  saveCheckpoint(target, new Map([['weight', good]]));
  const before = fs.readFileSync(target);
  const disposed = tensor(Float32Array.of(4), [1]);
  disposed.dispose();
  expect(() =>
    saveCheckpoint(
      target,
      new Map([
        ['weight', good],
        ['bad', disposed],
      ]),
    ),
  ).toThrow(/disposed/);
  expect(() => saveCheckpoint(path.join(workDir, 'missing-folder', 'x.pth'), new Map([['weight', good]]))).toThrow(
    CheckpointError,
  );
  expect(fs.readFileSync(target).equals(before)).toBe(true);
  expect(fs.readdirSync(workDir).filter((name) => name.includes('.tmp'))).toEqual([]);
});

test('a full disk mid-write leaves the previous file intact', () => {
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]).status === 0;
  if (!mounted) {
    console.warn('full-disk case not run: cannot mount a small tmpfs here (needs root)');
    fs.rmSync(mountPoint, { recursive: true, force: true });
    return;
  }
  try {
    const target = path.join(mountPoint, 'model.pth');
    using small = tensor(new Float32Array(1000).fill(1), [1000]);
    saveCheckpoint(target, new Map([['weight', small]]));
    const before = fs.readFileSync(target);
    using large = tensor(new Float32Array(200_000).fill(2), [200_000]); // 800 KB > the 256 KB disk
    expect(() => saveCheckpoint(target, new Map([['weight', large]]))).toThrow(/No space left on device/);
    expect(fs.readFileSync(target).equals(before)).toBe(true);
    expect(fs.readdirSync(mountPoint)).toEqual(['model.pth']);
  } finally {
    spawnSync('umount', [mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
  }
});

test('the format comes from the extension or the format option', () => {
  using value = tensor(Float32Array.of(1), [1]);
  const tensors = new Map([['w', value]]);
  expect(() => saveCheckpoint(path.join(workDir, 'x.bin'), tensors)).toThrow(
    /cannot tell the checkpoint format from the extension '.bin'/,
  );
  saveCheckpoint(path.join(workDir, 'x.bin'), tensors, { format: 'safetensors' });
  expect(loadCheckpoint(path.join(workDir, 'x.bin')).format).toBe('safetensors');
  expect(() => saveCheckpoint(path.join(workDir, 'y.pth'), tensors, { metadata: { a: 'b' } })).toThrow(RangeError);
  expect(() => saveCheckpoint(path.join(workDir, 'y.pth'), [['w', value]] as never)).toThrow(TypeError);
});
