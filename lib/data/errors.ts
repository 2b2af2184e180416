// The error every data problem becomes: a missing, truncated or malformed dataset file, an annotation line that
// does not parse, an image that does not decode. It always names the file (and the line when there is one), so a
// user with 60 000 images is told which one is wrong rather than just that something is.

export class DataError extends Error {
  /** The file at fault: the dataset, annotation or image file. */
  readonly file: string;
  /** 1-based line number within `file`, for text files (class lists, annotation files). */
  readonly line?: number;

  constructor(message: string, file: string, line?: number) {
    super(message);
    this.name = 'DataError';
    this.file = file;
    if (line !== undefined) this.line = line;
  }
}

/** `file: what` or `file line N: what`, the one prefix every DataError message starts with. */
export function dataError(file: string, what: string, line?: number): DataError {
  return new DataError(`${file}${line === undefined ? '' : ` line ${line}`}: ${what}`, file, line);
}
