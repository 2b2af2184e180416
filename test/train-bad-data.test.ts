// Bad data gets a clear error naming the file (and line): missing file, corrupt or truncated image or IDX file,
// label out of range, class count that does not match the model. Nothing already saved is lost. Through the
// CLI (`vitorch train` exits 1 with one line on stderr); the broken files come from tools/make_train_cli_fixtures.py.
import { createHash } from 'crypto';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CLASSES,
  CLI,
  ensureFixtures,
  FIXTURES,
  IDX_TRAIN,
  IDX_VAL,
  PREPROCESS,
  TINY_MODEL,
} from './train-cli-fixtures';

const fixture = (name: string) => path.join(FIXTURES, name);

let work: string;
let configFile: string;

function config(classes: string[] | string = CLASSES) {
  return {
    model: TINY_MODEL,
    classes,
    data: { train: IDX_TRAIN, val: IDX_VAL },
    preprocess: PREPROCESS,
    augment: { horizontalFlip: true, randomResizedCrop: false },
    train: {
      epochs: 1,
      batchSize: 4,
      lr: 1e-3,
      minLr: 1e-5,
      lrScaling: 'none',
      optimizer: { kind: 'adamw' },
      seed: 1,
      threads: 1,
    },
  };
}

beforeAll(() => {
  ensureFixtures();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-train-bad-data-'));
  configFile = path.join(work, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config()));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function train(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8' });
}

/** A run on `overrides` that must fail: exit 1, stderr one line, returned without the 'vitorch train: ' prefix. */
function failure(saveDir: string, ...overrides: string[]): string {
  const result = train('--config', configFile, '--save-dir', saveDir, ...overrides);
  expect({ status: result.status, stdout: result.stdout }).toEqual({ status: 1, stdout: '' });
  expect(result.stderr).toMatch(/^vitorch train: [^\n]*\n$/);
  return result.stderr.slice('vitorch train: '.length, -1);
}

const annotations = (file: string) => JSON.stringify({ format: 'annotations', file: fixture(file) });

describe('each bad input exits 1 naming the file (and the line)', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(work, 'bad');
  });

  test('a missing IDX file', () => {
    const missing = fixture('no-such-images-idx3-ubyte');
    expect(failure(dir, '--data.train.images', missing)).toBe(
      `${missing}: no such file: expected an IDX file (gzipped or not)`,
    );
  });

  test('a truncated IDX file', () => {
    const file = fixture('bad/truncated-images-idx3-ubyte');
    expect(failure(dir, '--data.train.images', file)).toBe(
      `${file}: truncated IDX data: expected 200704 bytes for dims [256, 28, 28], received 200604`,
    );
  });

  test('a truncated gzip file', () => {
    const file = fixture('bad/truncated-images-idx3-ubyte.gz');
    const size = fs.statSync(file).size;
    expect(failure(dir, '--data.train.images', file)).toMatch(
      new RegExp(
        `^${escape(file)}: corrupt or truncated gzip data \\(${size} bytes compressed\\): unexpected end of file$`,
      ),
    );
  });

  test('a file that is not IDX', () => {
    const file = fixture('bad/not-idx-images');
    expect(failure(dir, '--data.train.images', file)).toBe(
      `${file}: not an IDX file: expected magic bytes 00 00 <type> <ndims>, received 50 35 20 32`,
    );
  });

  test('a label out of range in an IDX label file', () => {
    const file = fixture('bad/out-of-range-labels-idx1-ubyte');
    expect(failure(dir, '--data.train.labels', file)).toBe(
      `${file}: label of sample 17 is 10: expected a label in [0, 9] for 10 classes`,
    );
  });

  test('an annotation line without its ;', () => {
    const file = fixture('annotations-bad-line.txt');
    expect(failure(dir, '--data.train', annotations('annotations-bad-line.txt'))).toBe(
      `${file} line 3: expected '<class index>;<image path>', received '${clip(`7 ${fixture('png/002.png')}`)}' (no ';')`,
    );
  });

  test('an annotation line with a class index out of range', () => {
    const file = fixture('annotations-out-of-range.txt');
    expect(failure(dir, '--data.train', annotations('annotations-out-of-range.txt'))).toBe(
      `${file} line 4: class index 12 is out of range: expected an index in [0, 9] for 10 classes`,
    );
  });

  test('an annotation pointing at a corrupt PNG', () => {
    const image = fixture('png/corrupt.png');
    const message = failure(dir, '--data.train', annotations('annotations-corrupt-png.txt'));
    expect(message).toMatch(new RegExp(`^${escape(image)}: cannot decode image: `));
    expect(message).toMatch(
      new RegExp(` \\(listed on line 5 of ${escape(fixture('annotations-corrupt-png.txt'))}\\)$`),
    );
  });

  test('an annotation pointing at a missing image', () => {
    expect(failure(dir, '--data.train', annotations('annotations-missing-png.txt'))).toBe(
      `${fixture('png/missing.png')}: no such image file (listed on line 6 of ${fixture('annotations-missing-png.txt')})`,
    );
  });

  test('a corrupt PNG in the validation data', () => {
    expect(failure(dir, '--data.val', annotations('annotations-corrupt-png.txt'))).toMatch(
      new RegExp(` \\(listed on line 5 of ${escape(fixture('annotations-corrupt-png.txt'))}\\)$`),
    );
  });

  test('a class count that does not match the model: a config error naming both numbers', () => {
    expect(failure(dir, '--model.numClasses', '12')).toBe(
      `${configFile}: expected 12 class names (model.numClasses), received 10`,
    );
    const classesFile = path.join(work, 'classes-9.txt');
    fs.writeFileSync(classesFile, CLASSES.slice(0, 9).join('\n') + '\n');
    const nineClasses = path.join(work, 'nine-classes.json');
    fs.writeFileSync(nineClasses, JSON.stringify(config(classesFile)));
    const result = train('--config', nineClasses, '--save-dir', dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `vitorch train: ${nineClasses}: expected 10 class names (model.numClasses), received 9\n`,
    );
  });
});

describe('nothing already saved is lost', () => {
  let dir: string;
  let saved: Record<string, string>;

  function contents(d: string): Record<string, string> {
    return Object.fromEntries(
      fs
        .readdirSync(d)
        .sort()
        .map((f) => [
          f,
          createHash('sha256')
            .update(fs.readFileSync(path.join(d, f)))
            .digest('hex'),
        ]),
    );
  }

  beforeAll(() => {
    dir = path.join(work, 'good');
    const result = train('--config', configFile, '--save-dir', dir);
    expect(result.status).toBe(0);
    saved = contents(dir);
    expect(Object.keys(saved)).toEqual(
      expect.arrayContaining(['config.json', 'last_epoch_weights.pth', 'training_state.pt', 'curves.csv']),
    );
  });

  afterEach(() => {
    // Every file as the good run left it, and no file added.
    expect(contents(dir)).toEqual(saved);
  });

  test('a second run into the same folder on a truncated IDX file fails before touching it', () => {
    failure(dir, '--data.train.images', fixture('bad/truncated-images-idx3-ubyte'));
  });

  test('a second run on another model whose images fail to decode on the first batch leaves config.json as it was', () => {
    failure(dir, '--model.depth', '2', '--data.train', annotations('annotations-corrupt-png.txt'));
  });

  test('a second run whose validation images fail to decode after the first epoch leaves the saved weights', () => {
    failure(dir, '--data.val', annotations('annotations-corrupt-png.txt'));
  });

  test('--resume with a training state of another model config: a clear error, the state intact', () => {
    const state = path.join(dir, 'training_state.pt');
    const result = train('--resume', dir, '--model.depth', '2');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `vitorch train: the training state ${state} was written for another model or optimizer: ` +
        "expected 'parameter blocks.1.norm1.weight [16]', the file has 'parameter norm.weight [16]'\n",
    );
    const optimizer = train('--resume', dir, '--train.optimizer.kind', 'sgd');
    expect(optimizer.stderr).toBe(
      `vitorch train: the training state ${state} was written for another model or optimizer: ` +
        "expected 'optimizer sgd', the file has 'optimizer adamw'\n",
    );
  });

  test('--resume with a truncated training state: a clear error', () => {
    const copy = path.join(work, 'truncated-state');
    fs.cpSync(dir, copy, { recursive: true });
    const state = path.join(copy, 'training_state.pt');
    fs.truncateSync(state, Math.floor(fs.statSync(state).size / 2));
    const truncated = contents(copy);
    const result = train('--resume', copy);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^vitorch train: ${escape(state)} is not a vitorch training state: .+\n$`),
    );
    expect(contents(copy)).toEqual(truncated);
    fs.rmSync(state);
    expect(train('--resume', copy).stderr).toBe(`vitorch train: no training state at ${state}\n`);
  });
});

/** Long lines are quoted up to 60 characters. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
