// The exit-code contract of the vitorch commands that read configs, checkpoints and data: 0 done, 1 a problem with
// a file the user named (config, data, image, checkpoint; the message names the file), 2 a usage error (followed
// by the command's usage line). Anything else is a bug and keeps its stack (the dispatcher prints it, exit 1).
import { DataError } from '../data/errors';
import { CheckpointError, ConfigError, PretrainedError, StateDictError } from '../errors';
import { UsageError } from './args';

/** A file or folder the command was told to write cannot be written (--out naming a file, no permission). */
export class OutputError extends Error {
  constructor(
    readonly file: string,
    what: string,
  ) {
    super(`${file}: ${what}`);
    this.name = 'OutputError';
  }
}

/** The errors that are the input's fault rather than vitorch's. */
export function isInputError(error: unknown): error is Error {
  return (
    error instanceof ConfigError ||
    error instanceof DataError ||
    error instanceof CheckpointError ||
    error instanceof StateDictError ||
    error instanceof PretrainedError ||
    error instanceof OutputError
  );
}

/** Runs a command's body, turning its UsageError into exit 2 and its input errors into exit 1, each as one
 *  `vitorch NAME: message` line on stderr. */
export async function runCommand(name: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`vitorch ${name}: ${error.message}\n${usage}`);
      return 2;
    }
    if (isInputError(error)) {
      console.error(`vitorch ${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
