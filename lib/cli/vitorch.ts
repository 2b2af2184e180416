#!/usr/bin/env node
// The vitorch command line: one file per command in lib/cli/, dispatched here.
//   vitorch train --config FILE --save-dir DIR ...   train (lib/cli/train.ts), on one or N processes
//   vitorch eval --weights FILE --config FILE ...    accuracy, per-class report, confusion (lib/cli/eval.ts)
//   vitorch predict --weights FILE --config FILE IMAGE...  top-k labels of images (lib/cli/predict.ts)
//   vitorch explain [--weights FILE --config FILE] IMAGE...  attention rollout pictures (lib/cli/explain.ts)
//   vitorch annotate DIR ...                         the article's annotation files (lib/cli/annotate.ts)
//   vitorch inspect FILE ...                         describe a checkpoint (lib/cli/inspect.ts)
//   vitorch convert IN OUT ...                       any ViT checkpoint as a vitorch model folder (lib/cli/convert.ts)
//   vitorch serve [--weights FILE --config FILE] ... an HTTP inference server (lib/cli/serve.ts, lib/server/)
//   vitorch doctor [--json]                          what vitorch found here: libtorch, CUDA, CPU, precisions
import { LibtorchError } from '../libtorch-locator';

type Command = (args: string[]) => Promise<number>;

// Loaded on demand, so that `vitorch annotate` does not load libtorch.
/* eslint-disable @typescript-eslint/no-require-imports -- a static import would load every command's modules */
const COMMANDS: Record<string, () => Command> = {
  train: () => require('./train').trainCommand,
  eval: () => require('./eval').evalCommand,
  predict: () => require('./predict').predictCommand,
  explain: () => require('./explain').explainCommand,
  annotate: () => require('./annotate').annotateCommand,
  inspect: () => require('./inspect').inspectCommand,
  convert: () => require('./convert').convertCommand,
  serve: () => require('./serve').serveCommand,
  doctor: () => require('./doctor').doctorCommand,
};
/* eslint-enable @typescript-eslint/no-require-imports */

const USAGE = `usage: vitorch <command> [options]\ncommands: ${Object.keys(COMMANDS).join(', ')}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const load = command === undefined ? undefined : COMMANDS[command];
  if (!load) {
    console.error(
      command === undefined || command === '--help' ? USAGE : `vitorch: unknown command '${command}'\n${USAGE}`,
    );
    return 2;
  }
  try {
    return await load()(rest);
  } catch (error) {
    // No usable libtorch: the message says how to get one; a stack would only bury it.
    if (!(error instanceof LibtorchError)) throw error;
    console.error(`vitorch ${command}: ${error.message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exitCode = 1;
    },
  );
}
