// Progress through a list of files for the commands that write one result per file (`vitorch explain`). On a
// terminal: a cli-progress bar on stderr (done / total, ETA) under the result lines, which go to stdout; the bar's
// line is blanked before each result is printed and drawn again after it, so the two never mix on one line.
// Anywhere else (pipes, logs, tests): the result lines only, nothing on stderr. One file is shown without a bar.
import { SingleBar } from 'cli-progress';

export interface ItemProgress {
  /** A result line, printed above the bar. */
  line(text: string): void;
  /** `count` more files done. */
  advance(count: number): void;
  /** Removes the bar (idempotent). */
  stop(): void;
}

export interface ItemProgressOptions {
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Default: whether `err` is a terminal. */
  tty?: boolean;
}

export function createItemProgress(label: string, total: number, options: ItemProgressOptions = {}): ItemProgress {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const tty = options.tty ?? Boolean(err.isTTY);
  let bar: SingleBar | undefined;
  if (tty && total > 1) {
    bar = new SingleBar({
      stream: err,
      format: `${label} {bar} {value}/{total} | ETA {eta_formatted}`,
      barsize: 24,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: !err.isTTY,
    });
    bar.start(total, 0);
  }
  return {
    line(text) {
      if (bar) err.write('\r\x1b[2K');
      out.write(`${text}\n`);
      bar?.render();
    },
    advance(count) {
      bar?.increment(count);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
