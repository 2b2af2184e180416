// `vitorch inspect FILE [--json] [--no-verify]`: format, keys, shapes, dtypes and parameter count of a checkpoint.
import * as fs from 'fs';
import { CheckpointError } from '../errors';
import { loadCheckpointAsync } from '../checkpoint';

export const INSPECT_USAGE = 'usage: vitorch inspect FILE [--json] [--no-verify]';

interface Summary {
  file: string;
  bytes: number;
  format: string;
  tensors: { name: string; dtype: string; shape: number[]; numel: number }[];
  parameterCount: number;
  notes: string[];
  metadata: Record<string, string>;
}

async function inspect(file: string, verifyChecksums: boolean): Promise<Summary> {
  const tensors = await loadCheckpointAsync(file, { verifyChecksums });
  try {
    return {
      file,
      bytes: fs.statSync(file).size,
      format: tensors.format,
      tensors: [...tensors].map(([name, value]) => ({ name, dtype: value.dtype, shape: value.shape, numel: value.numel })),
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
    '',
  ];
  const width = Math.max(4, ...summary.tensors.map((t) => t.name.length));
  lines.push(`${'name'.padEnd(width)}  ${'dtype'.padEnd(8)}  shape`);
  for (const t of summary.tensors) lines.push(`${t.name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]`);
  console.log(lines.join('\n'));
}

export async function inspectCommand(rest: string[]): Promise<number> {
  const flags = rest.filter((arg) => arg.startsWith('--'));
  const files = rest.filter((arg) => !arg.startsWith('--'));
  const unknown = flags.filter((flag) => flag !== '--json' && flag !== '--no-verify');
  if (files.length !== 1 || unknown.length > 0) {
    console.error(unknown.length > 0 ? `vitorch: unknown option ${unknown[0]}\n${INSPECT_USAGE}` : INSPECT_USAGE);
    return 2;
  }
  try {
    const summary = await inspect(files[0], !flags.includes('--no-verify'));
    if (flags.includes('--json')) console.log(JSON.stringify(summary, null, 2));
    else printTable(summary);
    return 0;
  } catch (error) {
    console.error(`vitorch: ${error instanceof CheckpointError ? error.message : String(error)}`);
    return 1;
  }
}

