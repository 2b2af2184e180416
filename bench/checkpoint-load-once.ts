// One measured load in vitorch, for bench/checkpoint-load.ts: vit({ pretrained }) until the model is ready to run.
// Prints JSON: seconds and peak resident growth in bytes (Linux /proc/self/status).
import * as fs from 'fs';
import { vitAsync } from '../lib';
import { parseArgs, runMain, UsageError } from './run-main';

function residentKib(field: 'VmRSS' | 'VmHWM'): number {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line!.split(/\s+/)[1]);
}

async function main(file: string): Promise<void> {
  const before = residentKib('VmRSS');
  const started = performance.now();
  const model = await vitAsync({ pretrained: file });
  model.eval();
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, peakGrowthBytes: (residentKib('VmHWM') - before) * 1024 }));
  model.dispose();
}

runMain('checkpoint-load-once', () => {
  const files = parseArgs(process.argv.slice(2), [], [], { overrides: false }).positional;
  if (files.length !== 1) throw new UsageError(`expected one checkpoint file, received ${files.length} arguments`);
  return main(files[0]);
});
