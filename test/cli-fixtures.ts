// The data and the runs shared by the CLI's tests (test/cli-configs.test.ts, test/cli-eval.test.ts): a slice of
// Fashion-MNIST (tools/make_cli_fixtures.py), the CLI run as a child process, and a tiny ViT trained on the slice.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { python as findPython } from './python';

export const ROOT = path.join(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'vitorch.js');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'generated', 'cli');

export interface CliManifest {
  train: { images: string; labels: string; count: number };
  val: { images: string; labels: string; count: number };
  pngs: { file: string; index: number; label: number }[];
  corrupt: string;
}

export const fixture = (file: string) => path.join(FIXTURES, file);

/** Runs `vitorch ARGS` to the end in `cwd`. */
export function vitorch(args: string[], cwd = ROOT) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd });
}

/** The overrides that point data.SPLIT at the fixtures' IDX files `data` names. */
export function dataArgs(split: 'train' | 'val', data: { images: string; labels: string }): string[] {
  return [`--data.${split}.images`, fixture(data.images), `--data.${split}.labels`, fixture(data.labels)];
}

/** Runs tools/make_cli_fixtures.py with `python`; returns its manifest. */
export function makeCliFixtures(python: string = findPython()): CliManifest {
  const make = spawnSync(python, [path.join(ROOT, 'tools', 'make_cli_fixtures.py'), '--out', FIXTURES], {
    encoding: 'utf8',
  });
  if (make.status !== 0) throw new Error(`make_cli_fixtures.py failed:\n${make.stderr}`);
  return JSON.parse(fs.readFileSync(fixture('manifest.json'), 'utf8'));
}

/**
 * `vitorch train` of examples/fashion-mnist.json shrunk to a tiny model (depth 1, 16 features, 2 heads), one epoch at
 * a constant rate on the manifest's data, saved to `runDir`; `trainArgs` are its other --train.* options.
 */
export function trainTiny(runDir: string, manifest: CliManifest, trainArgs: string[]): void {
  const train = vitorch([
    'train',
    '--config',
    path.join(ROOT, 'examples', 'fashion-mnist.json'),
    '--save-dir',
    runDir,
    '--train.epochs',
    '1',
    ...trainArgs,
    '--train.schedule.kind',
    'constant',
    '--model.depth',
    '1',
    '--model.numFeatures',
    '16',
    '--model.numHeads',
    '2',
    ...dataArgs('train', manifest.train),
    ...dataArgs('val', manifest.val),
  ]);
  if (train.status !== 0) throw new Error(`vitorch train failed (${train.status}):\n${train.stderr}`);
}
