// `vitorch inspect FILE|DIR [--json] [--no-verify] [--config FILE] [--num-heads N] [--activation A]
// [--layer-norm-eps E]`: format, keys, shapes, dtypes and parameter count of a checkpoint, and the ViT family
// loadPretrained detects in it (the article's or timm's state dict, a transformers or vitorch folder) with the model
// options it reads, or why it cannot; with --config, also whether it is the weights of the model that config
// describes (loaded as predict, eval and serve load it: strictly), exit 1 with every difference if not. A folder
// is described by the article's state dict loadPretrained makes of it.
import * as fs from 'fs';
import * as path from 'path';
import { loadCheckpointAsync } from '../checkpoint';
import { loadClassifier, readClassifierConfig } from '../classifier';
import { PretrainedError } from '../errors';
import type { VisionTransformerOptions } from '../model';
import { readPretrained } from '../pretrained/load-pretrained';
import type { LoadPretrainedOptions, PretrainedCheckpoint, PretrainedFamily } from '../pretrained/load-pretrained';
import { parseArgs, stringFlag, UsageError } from './args';
import { PRETRAINED_FLAGS, pretrainedOptions } from './pretrained-flags';
import { runCommand } from './run-command';

export const INSPECT_USAGE =
  'usage: vitorch inspect FILE|DIR [--json] [--no-verify] [--config FILE] [--num-heads N] [--activation A] ' +
  '[--layer-norm-eps E]';

/** What loadPretrained makes of the checkpoint: its family and model, or why it cannot. */
type Detected =
  | { family: PretrainedFamily; model: VisionTransformerOptions; classes: number; notes: string[] }
  | { family: null; reason: string };

interface Summary {
  file: string;
  bytes: number;
  format: string;
  tensors: { name: string; dtype: string; shape: number[]; numel: number }[];
  parameterCount: number;
  notes: string[];
  metadata: Record<string, string>;
  /** With --config: the config whose model the weights fit, its class count and input [C, H, W]. */
  fits?: { config: string; classes: number; inputShape: number[] };
  detected?: Detected;
}

function detectedOf(read: PretrainedCheckpoint): Detected {
  return { family: read.family, model: read.options, classes: read.classes.length, notes: read.notes };
}

async function detect(file: string, options: LoadPretrainedOptions): Promise<Detected> {
  try {
    const read = await readPretrained(file, options);
    read.dispose();
    return detectedOf(read);
  } catch (error) {
    if (error instanceof PretrainedError) return { family: null, reason: error.message };
    throw error;
  }
}

/** A folder, as the article's state dict loadPretrained makes of it. */
async function inspectFolder(dir: string, options: LoadPretrainedOptions): Promise<Summary> {
  const read = await readPretrained(dir, options);
  try {
    const tensors = [...read.stateDict].map(([name, value]) => ({
      name,
      dtype: value.dtype,
      shape: value.shape,
      numel: value.numel,
    }));
    const files = read.weights.split(', ');
    return {
      file: dir,
      bytes: files.reduce((sum, f) => sum + fs.statSync(f).size, 0),
      format: `${read.family} folder (${files.map((f) => path.basename(f)).join(', ')})`,
      tensors,
      parameterCount: tensors.reduce((sum, t) => sum + t.numel, 0),
      notes: [],
      metadata: {},
      detected: detectedOf(read),
    };
  } finally {
    read.dispose();
  }
}

async function inspect(file: string, verifyChecksums: boolean): Promise<Summary> {
  const tensors = await loadCheckpointAsync(file, { verifyChecksums });
  try {
    return {
      file,
      bytes: fs.statSync(file).size,
      format: tensors.format,
      tensors: [...tensors].map(([name, value]) => ({
        name,
        dtype: value.dtype,
        shape: value.shape,
        numel: value.numel,
      })),
      parameterCount: tensors.parameterCount,
      notes: tensors.notes,
      metadata: tensors.metadata,
    };
  } finally {
    tensors.dispose();
  }
}

function printTable(summary: Summary): void {
  const lines = [
    `file:        ${summary.file} (${summary.bytes.toLocaleString('en-US')} bytes)`,
    `format:      ${summary.format}`,
    `tensors:     ${summary.tensors.length}`,
    `parameters:  ${summary.parameterCount.toLocaleString('en-US')}`,
    ...summary.notes.map((note) => `note:        ${note}`),
    ...Object.entries(summary.metadata).map(([key, value]) => `metadata:    ${key} = ${value}`),
    ...(summary.detected
      ? summary.detected.family === null
        ? [`family:      not a ViT loadPretrained reads: ${summary.detected.reason}`]
        : [
            `family:      ${summary.detected.family}`,
            `model:       ${JSON.stringify(summary.detected.model)}`,
            `classes:     ${summary.detected.classes}`,
            ...summary.detected.notes.map((note) => `detected:    ${note}`),
          ]
      : []),
    ...(summary.fits
      ? [
          `fits:        the model of ${summary.fits.config} (${summary.fits.classes} classes, input ` +
            `[${summary.fits.inputShape.join(', ')}])`,
        ]
      : []),
    '',
  ];
  const width = Math.max(4, ...summary.tensors.map((t) => t.name.length));
  lines.push(`${'name'.padEnd(width)}  ${'dtype'.padEnd(8)}  shape`);
  for (const t of summary.tensors) lines.push(`${t.name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]`);
  console.log(lines.join('\n'));
}

export async function inspectCommand(args: string[]): Promise<number> {
  return runCommand('inspect', INSPECT_USAGE, async () => {
    const parsed = parseArgs(args, ['config', ...PRETRAINED_FLAGS], ['json', 'no-verify'], { overrides: false });
    if (parsed.positional.length !== 1) {
      const count = parsed.positional.length;
      throw new UsageError(count === 0 ? 'no checkpoint given' : `expected one checkpoint, received ${count}`);
    }
    const file = parsed.positional[0];
    const options = pretrainedOptions(parsed);
    const isFolder = fs.existsSync(file) && fs.statSync(file).isDirectory();
    const summary = isFolder ? await inspectFolder(file, options) : await inspect(file, !parsed.flags.has('no-verify'));
    if (!isFolder) summary.detected = await detect(file, options);
    const configFile = stringFlag(parsed, 'config');
    if (configFile !== undefined) summary.fits = await fits(configFile, file);
    if (parsed.flags.has('json')) console.log(JSON.stringify(summary, null, 2));
    else printTable(summary);
    return 0;
  });
}

/** Whether `file` is the weights of the model `configFile` describes: loaded strictly, as predict, eval and serve
 *  load it (a StateDictError listing every difference if not). */
async function fits(configFile: string, file: string): Promise<Summary['fits']> {
  const config = readClassifierConfig(configFile);
  using classifier = await loadClassifier(config, file);
  const o = classifier.model.options;
  return { config: configFile, classes: config.classes.length, inputShape: [o.inChans, ...o.inputShape] };
}
