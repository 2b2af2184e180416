// Where each bench script's results go: bench/results/NAME.json, indented JSON.
import * as fs from 'fs';
import * as path from 'path';
import { root } from './bench-inputs';

export interface WriteResultsOptions {
  /** End the file with a newline. */
  finalNewline?: boolean;
  /** A blank line on stdout before the line that names the file. */
  blankLineBefore?: boolean;
}

/** Writes `results` as indented JSON to `file` (its folder made if need be) and says so on stdout. */
export function writeResults(file: string, results: unknown, options: WriteResultsOptions = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}${options.finalNewline ? '\n' : ''}`);
  console.log(`${options.blankLineBefore ? '\n' : ''}wrote ${path.relative(root, file)}`);
}
