// The one command-line parser of the vitorch commands and the bench scripts (bench/*.ts): Node's util.parseArgs
// in strict mode, so `--flag value`, `--flag=value`, boolean `--flag` and `--` (what follows is positional) work as
// in every other Node tool. Dotted config overrides (`--train.epochs 5`), which the commands that read a config
// accept, have names no table can list, so each dotted name found on the command line is declared as a string
// option before parsing. util.parseArgs' errors become one short UsageError line ("unknown option --x").
import { parseArgs as nodeParseArgs } from 'util';

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
  /** Every value of each repeatable flag, in order (ParseOptions.repeatable). */
  repeated: Map<string, string[]>;
}

export interface ParseOptions {
  /** Accept dotted config overrides (`--train.epochs 5`). Default true. */
  overrides?: boolean;
  /** Accept positional arguments. Default true. */
  positionals?: boolean;
  /** Valued flags that may be given more than once (`--model a=x --model b=y`). */
  repeatable?: readonly string[];
}

/** `valued` flags take a value, `booleans` none; a flag containing a dot is a config override. */
export function parseArgs(
  args: readonly string[],
  valued: readonly string[],
  booleans: readonly string[],
  options: ParseOptions = {},
): ParsedArgs {
  const declared: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  const repeatable = new Set(options.repeatable ?? []);
  for (const name of valued)
    declared[name] = repeatable.has(name) ? { type: 'string', multiple: true } : { type: 'string' };
  for (const name of booleans) declared[name] = { type: 'boolean' };
  const dotted = new Set<string>();
  if (options.overrides ?? true) {
    for (const arg of args) {
      if (arg === '--') break;
      const name = arg.startsWith('--') ? arg.slice(2).split('=')[0] : '';
      if (name.includes('.') && !(name in declared)) {
        declared[name] = { type: 'string' };
        dotted.add(name);
      }
    }
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = nodeParseArgs({
      args: [...args],
      options: declared,
      strict: true,
      allowPositionals: options.positionals ?? true,
    }) as { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] });
  } catch (error) {
    throw usageErrorOf(error as Error & { code?: string });
  }
  const flags = new Map<string, string | true>();
  const overrides: Record<string, unknown> = {};
  const repeated = new Map<string, string[]>();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === false) continue;
    if (Array.isArray(value)) {
      repeated.set(name, value);
      flags.set(name, value[value.length - 1]);
      continue;
    }
    if (!dotted.has(name)) {
      flags.set(name, value);
      continue;
    }
    try {
      overrides[name] = JSON.parse(value as string);
    } catch {
      overrides[name] = value;
    }
  }
  return { flags, overrides, positional: positionals, repeated };
}

/** util.parseArgs' error in the commands' words. */
function usageErrorOf(error: Error & { code?: string }): Error {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${option}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument '${/'([^']*)'/.exec(error.message)?.[1] ?? ''}'`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(error.message)) return new UsageError(`${option} takes no value`);
      if (/ambiguous/.test(error.message)) {
        return new UsageError(`${option} needs a value (one that starts with '-' is written ${option}=VALUE)`);
      }
      return new UsageError(`${option} needs a value`);
    default:
      return error;
  }
}

export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function numberFlag(
  parsed: ParsedArgs,
  name: string,
  check: (n: number) => boolean,
  what: string,
): number | undefined {
  const text = stringFlag(parsed, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`expected ${what} for --${name}, received '${text}'`);
  }
  return value;
}

/** A whole number >= `min` (default 1) given to --name, or undefined when the flag is absent. */
export function integerFlag(parsed: ParsedArgs, name: string, min = 1): number | undefined {
  const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  return numberFlag(parsed, name, (n) => Number.isInteger(n) && n >= min, what);
}

/** A comma-separated list of whole numbers >= 1 given to --name (`--batches 1,8,32`), or undefined. */
export function integerListFlag(parsed: ParsedArgs, name: string): number[] | undefined {
  const text = stringFlag(parsed, name);
  if (text === undefined) return undefined;
  const values = text.split(',').map((part) => (part.trim() === '' ? NaN : Number(part)));
  if (!values.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new UsageError(`expected positive integers separated by commas for --${name}, received '${text}'`);
  }
  return values;
}

/** One of `choices` given to --name, or undefined. */
export function choiceFlag<T extends string>(parsed: ParsedArgs, name: string, choices: readonly T[]): T | undefined {
  const text = stringFlag(parsed, name);
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`expected one of ${choices.join(', ')} for --${name}, received '${text}'`);
  }
  return text as T;
}

/** A comma-separated list of `choices` given to --name (`--only a,b`), or undefined. */
export function choiceListFlag<T extends string>(
  parsed: ParsedArgs,
  name: string,
  choices: readonly T[],
): T[] | undefined {
  const text = stringFlag(parsed, name);
  if (text === undefined) return undefined;
  const values = text.split(',');
  const unknown = values.filter((value) => !(choices as readonly string[]).includes(value));
  if (unknown.length > 0)
    throw new UsageError(`unknown ${unknown.join(', ')} for --${name}; known: ${choices.join(', ')}`);
  return values as T[];
}
