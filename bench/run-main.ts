// How every bench script starts and ends: its arguments go through lib/cli/args.ts (the vitorch commands' parser,
// re-exported here), a UsageError is one line and exit 2, anything else its stack and exit 1.
import { parseArgs, UsageError } from '../lib/cli/args';

export {
  choiceFlag,
  choiceListFlag,
  integerFlag,
  integerListFlag,
  numberFlag,
  parseArgs,
  stringFlag,
  UsageError,
} from '../lib/cli/args';
export type { ParsedArgs } from '../lib/cli/args';

export function runMain(name: string, main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`bench/${name}: ${error.message}`);
        process.exit(2);
      }
      console.error(error);
      process.exit(1);
    });
}

/** The one optional positional count of a script (`augment.js [reps]`), a whole number >= 1; `fallback` without it. */
export function countArgument(argv: string[], name: string, fallback: number): number {
  const parsed = parseArgs(argv, [], [], { overrides: false });
  if (parsed.positional.length > 1)
    throw new UsageError(`expected at most one argument (${name}), received ${parsed.positional.length}`);
  const text = parsed.positional[0];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`expected a positive integer for ${name}, received '${text}'`);
  return value;
}
