// Command-line arguments shared by the vitorch commands: `--flag value`, `--flag=value`, boolean `--flag`, and
// dotted config overrides (`--train.epochs 5`), which every command that reads a config accepts.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  /** Known flags by name, without the leading dashes. */
  flags: Map<string, string | true>;
  /** Dotted config keys and their values (JSON when it parses, else the string). */
  overrides: Record<string, unknown>;
  positional: string[];
}

/** `valued` flags take a value, `booleans` none; a flag containing a dot is a config override. */
export function parseArgs(args: string[], valued: readonly string[], booleans: readonly string[]): ParsedArgs {
  const flags = new Map<string, string | true>();
  const overrides: Record<string, unknown> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    const inline = equals === -1 ? undefined : arg.slice(equals + 1);
    const takeValue = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= args.length || args[i + 1].startsWith('--')) throw new UsageError(`--${name} needs a value`);
      return args[++i];
    };
    if (booleans.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (valued.includes(name)) {
      flags.set(name, takeValue());
    } else if (name.includes('.')) {
      const text = takeValue();
      try {
        overrides[name] = JSON.parse(text);
      } catch {
        overrides[name] = text;
      }
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { flags, overrides, positional };
}

export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function numberFlag(parsed: ParsedArgs, name: string, check: (n: number) => boolean, what: string): number | undefined {
  const text = stringFlag(parsed, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || !check(value)) throw new UsageError(`expected ${what} for --${name}, received '${text}'`);
  return value;
}
