// `vitorch inspect FILE [--json] [--no-verify] [--config FILE]`: format, keys, shapes, dtypes and parameter count of
// a checkpoint; with --config, also whether it is the weights of the model that config describes (loaded as
// predict, eval and serve load it: strictly), exit 1 with every difference if not.
import * as fs from 'fs';
import { loadCheckpointAsync } from '../checkpoint';
import { loadClassifier, readClassifierConfig } from '../classifier';
import { parseArgs, stringFlag, UsageError } from './args';
import { runCommand } from './run-command';

export const INSPECT_USAGE = 'usage: vitorch inspect FILE [--json] [--no-verify] [--config FILE]';

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
    const parsed = parseArgs(args, ['config'], ['json', 'no-verify'], { overrides: false });
    if (parsed.positional.length !== 1) {
      const count = parsed.positional.length;
      throw new UsageError(count === 0 ? 'no checkpoint given' : `expected one checkpoint, received ${count}`);
    }
    const file = parsed.positional[0];
    const summary = await inspect(file, !parsed.flags.has('no-verify'));
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
