// SIGTERM to `vitorch train`: the running step finishes, training_state.pt is saved, the process exits 0 and says
// how to resume; --resume then goes on from that point. A real process on 256 Fashion-MNIST images
// (tools/make_train_cli_fixtures.py), 50 epochs that are never meant to finish.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLASSES, CLI, ensureFixtures, IDX_TRAIN, PREPROCESS, TINY_MODEL } from './train-cli-fixtures';

let work: string;
let configFile: string;

beforeAll(() => {
  ensureFixtures();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-signal-'));
  configFile = path.join(work, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      model: TINY_MODEL,
      classes: CLASSES,
      data: { train: IDX_TRAIN },
      preprocess: PREPROCESS,
      train: {
        epochs: 2,
        batchSize: 8,
        lr: 1e-3,
        minLr: 1e-5,
        lrScaling: 'none',
        optimizer: { kind: 'adamw' },
        seed: 2,
        threads: 1,
      },
    }),
  );
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  firstEpoch: number;
}

/** Runs `vitorch train ARGS` and sends SIGTERM once its stderr has an epoch summary line ("epoch N/50 | ..."). */
function trainUntilAnEpochLine(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let firstEpoch = -1;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      const line = /^epoch (\d+)\/50 \|/m.exec(stderr);
      if (firstEpoch < 0 && line) {
        firstEpoch = Number(line[1]);
        child.kill('SIGTERM');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, firstEpoch }));
  });
}

const STOPPED =
  /^vitorch train: stopped before epoch (\d+)(?: step (\d+))? after \d+ s; saved (.+); continue with --resume (.+)$/m;

function curveEpochs(dir: string): number[] {
  return fs
    .readFileSync(path.join(dir, 'curves.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((row) => Number(row.split(',')[0]));
}

test('SIGTERM saves the training state and exits 0; --resume goes on from the next step', async () => {
  const dir = path.join(work, 'run');
  const first = await trainUntilAnEpochLine(['--config', configFile, '--save-dir', dir, '--train.epochs', '50']);
  expect({ code: first.code, signal: first.signal, firstEpoch: first.firstEpoch }).toEqual({
    code: 0,
    signal: null,
    firstEpoch: 1,
  });
  expect(first.stderr).toContain('SIGTERM: finishing the running step, then saving\n');
  const stop = STOPPED.exec(first.stderr);
  expect(stop).not.toBeNull();
  expect(stop![3]).toBe(path.join(dir, 'training_state.pt'));
  expect(stop![4]).toBe(dir);
  expect(fs.existsSync(path.join(dir, 'training_state.pt'))).toBe(true);
  const stoppedEpoch = Number(stop![1]);
  const nextStep = stop![2] === undefined ? undefined : Number(stop![2]);
  // Every epoch before the stop is in curves.csv, and none after it.
  expect(curveEpochs(dir)).toEqual(Array.from({ length: stoppedEpoch - 1 }, (_, i) => i + 1));
  expect(stoppedEpoch).toBeLessThan(50);

  // The resumed run starts where the first stopped: the same step numbers in its message, its first epoch line is
  // the stopped epoch (finished) or, at an epoch boundary, the next one.
  const second = await trainUntilAnEpochLine(['--resume', dir]);
  expect({ code: second.code, signal: second.signal }).toEqual({ code: 0, signal: null });
  expect(second.stderr).toMatch(
    new RegExp(`^resuming at epoch ${stoppedEpoch}${nextStep === undefined ? '' : `, step ${nextStep}`}$`, 'm'),
  );
  expect(second.firstEpoch).toBe(stoppedEpoch);
  const again = STOPPED.exec(second.stderr);
  expect(again).not.toBeNull();
  // Both runs' epochs, each once, in order.
  expect(curveEpochs(dir)).toEqual(Array.from({ length: Number(again![1]) - 1 }, (_, i) => i + 1));
  expect(curveEpochs(dir).length).toBeGreaterThanOrEqual(stoppedEpoch);
});
