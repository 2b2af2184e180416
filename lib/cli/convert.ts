// `vitorch convert IN OUT [--format pth|safetensors] [--num-heads N] [--activation gelu|gelu-tanh]
// [--layer-norm-eps E] [--skip-unknown-globals]`: any ViT checkpoint loadPretrained reads (the article's or timm's
// state dict, a Hugging Face transformers folder, a vitorch model folder) written as a vitorch model folder: the
// article's state dict (OUT/weights.pth or OUT/weights.safetensors) and the config.json `vitorch train` writes beside
// it (model options, classes, preprocessing), which `predict`, `eval`, `serve --model NAME=OUT`, `inspect --config`
// and `train --weights` take. The flags give what a bare state dict cannot say (loadPretrained's options).
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../atomic-write';
import { saveCheckpointAsync } from '../checkpoint';
import { readPretrained } from '../pretrained/load-pretrained';
import type { PretrainedCheckpoint } from '../pretrained/load-pretrained';
import { choiceFlag, parseArgs, UsageError } from './args';
import { PRETRAINED_FLAGS, pretrainedOptions } from './pretrained-flags';
import { OutputError, runCommand } from './run-command';

export const CONVERT_USAGE =
  'usage: vitorch convert IN OUT [--format pth|safetensors] [--num-heads N] [--activation gelu|gelu-tanh] ' +
  '[--layer-norm-eps E] [--skip-unknown-globals]';

function configOf(read: PretrainedCheckpoint) {
  const config: Record<string, unknown> = { model: read.options, classes: read.classes };
  // What the checkpoint states of its preprocessing travels with it; a bare state dict states none: the article's.
  if (Object.keys(read.preprocess).length > 0) config.preprocess = read.preprocess;
  return config;
}

export async function convertCommand(args: string[]): Promise<number> {
  return runCommand('convert', CONVERT_USAGE, async () => {
    const parsed = parseArgs(args, ['format', ...PRETRAINED_FLAGS], ['skip-unknown-globals', 'json'], {
      overrides: false,
    });
    if (parsed.positional.length !== 2) {
      throw new UsageError(`expected IN and OUT, received ${parsed.positional.length} argument(s)`);
    }
    const [input, out] = parsed.positional;
    const format = choiceFlag(parsed, 'format', ['pth', 'safetensors'] as const) ?? 'pth';
    const options = pretrainedOptions(parsed);
    if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new OutputError(out, 'exists and is not a folder');
    const read = await readPretrained(input, options);
    try {
      const notes = read.notes;
      const config = configOf(read);
      try {
        fs.mkdirSync(out, { recursive: true });
      } catch (error) {
        throw new OutputError(out, `cannot make the folder: ${(error as Error).message}`);
      }
      // One weights file: a model folder with two is ambiguous to `vitorch serve`.
      for (const other of ['weights.pth', 'weights.safetensors']) fs.rmSync(path.join(out, other), { force: true });
      const weights = path.join(out, `weights.${format}`);
      await saveCheckpointAsync(weights, read.stateDict, { format });
      await writeFileAtomic(path.join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
      if (parsed.flags.has('json')) {
        console.log(JSON.stringify({ family: read.family, weights, config: path.join(out, 'config.json'), notes }));
      } else {
        console.log(`${read.family} checkpoint ${input} -> ${weights} and ${path.join(out, 'config.json')}`);
        for (const note of notes) console.log(`note: ${note}`);
      }
      return 0;
    } finally {
      read.dispose();
    }
  });
}
