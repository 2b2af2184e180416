// The training progress reporter of the CLI. On a terminal: one cli-progress bar per epoch (loss, accuracy, lr,
// images/s, ETA), replaced by a one-line summary when the epoch ends. Anywhere else (CI logs, pipes, files):
// exactly that one summary line per epoch and nothing in between, so a log holds one greppable line per epoch
// instead of thousands of carriage-return redraws.
import { SingleBar } from 'cli-progress';
import { expected, requireInteger, requireObject } from '../validate';

export interface EpochStartInfo {
  /** 1-based epoch number. */
  epoch: number;
  epochs: number;
  /** Optimizer steps in this epoch (the bar's length). */
  steps: number;
}

export interface StepInfo {
  /** Steps finished in this epoch, 1 to steps. */
  step: number;
  /** The loss to show: the caller's running mean over the epoch so far reads best. */
  loss: number;
  /** Training accuracy so far, a fraction in [0, 1]. */
  accuracy?: number;
  lr?: number;
  imagesPerSecond?: number;
}

export interface EpochEndMetrics {
  /** Mean training loss of the epoch. */
  loss: number;
  /** Training accuracy of the epoch, a fraction. */
  accuracy?: number;
  valLoss?: number;
  /** Validation top-1 and top-5 accuracy, fractions. */
  valTop1?: number;
  valTop5?: number;
  /** Defaults to the last step's lr. */
  lr?: number;
  /** Defaults to the last step's images/s. */
  imagesPerSecond?: number;
  /** Defaults to the time since epochStart. */
  seconds?: number;
  /** Time the training steps waited for data in this epoch (near 0 when prefetching keeps up). */
  dataWaitSeconds?: number;
}

export interface ProgressReporter {
  epochStart(info: EpochStartInfo): void;
  step(info: StepInfo): void;
  epochEnd(metrics: EpochEndMetrics): void;
  /** A line of text (a checkpoint saved, a warning) that must not be garbled by the bar. */
  message(text: string): void;
  /** Ends an epoch's bar without a summary (on an error or Ctrl-C) and restores the cursor. Idempotent. */
  stop(): void;
}

export interface ProgressReporterOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Whether to draw bars; defaults to whether the stream is a terminal. */
  tty?: boolean;
}

/** The one line that sums up an epoch, as written to logs and left on a terminal after the epoch's bar. */
export function formatEpochLine(epoch: number, epochs: number, m: EpochEndMetrics & { seconds: number }): string {
  const parts = [`epoch ${epoch}/${epochs}`, `loss ${fixed(m.loss, 4)}`];
  if (m.accuracy !== undefined) parts.push(`acc ${pct(m.accuracy)}`);
  if (m.valLoss !== undefined) parts.push(`val loss ${fixed(m.valLoss, 4)}`);
  if (m.valTop1 !== undefined) parts.push(`val top-1 ${pct(m.valTop1)}`);
  if (m.valTop5 !== undefined) parts.push(`val top-5 ${pct(m.valTop5)}`);
  if (m.lr !== undefined) parts.push(`lr ${lrText(m.lr)}`);
  if (m.imagesPerSecond !== undefined) parts.push(`${fixed(m.imagesPerSecond, 1)} images/s`);
  parts.push(`${fixed(m.seconds, 1)} s`);
  if (m.dataWaitSeconds !== undefined) parts.push(`waited ${fixed(m.dataWaitSeconds, 1)} s for data`);
  return parts.join(' | ');
}

export function createProgressReporter(options: ProgressReporterOptions = {}): ProgressReporter {
  const o = requireObject(options, 'createProgressReporter options') as ProgressReporterOptions;
  const stream = o.stream ?? process.stderr;
  if (typeof stream.write !== 'function')
    throw new TypeError(expected('a writable stream', 'createProgressReporter stream', stream));
  const tty = o.tty ?? Boolean(stream.isTTY);
  if (typeof tty !== 'boolean') throw new TypeError(expected('a boolean', 'createProgressReporter tty', tty));

  let current: { epoch: number; epochs: number; steps: number; started: number; last?: StepInfo } | undefined;
  let bar: SingleBar | undefined;

  const endBar = (): void => {
    if (!bar) return;
    bar.stop(); // clearOnComplete: the line is blanked, so the summary (or nothing) takes its place
    bar = undefined;
  };

  return {
    epochStart(info) {
      const i = requireObject(info, 'epochStart info');
      const epochs = requireInteger(i.epochs, 'epochStart epochs', 1);
      const epoch = requireInteger(i.epoch, 'epochStart epoch', 1, epochs);
      const steps = requireInteger(i.steps, 'epochStart steps', 0);
      endBar();
      current = { epoch, epochs, steps, started: Date.now() };
      if (!tty) return;
      bar = new SingleBar({
        stream,
        format: `epoch ${epoch}/${epochs} {bar} {value}/{total} | loss {loss} | acc {acc} | lr {lr} | {ips} img/s | ETA {eta_formatted}`,
        barsize: 24,
        barCompleteChar: '█',
        barIncompleteChar: '░',
        hideCursor: true,
        clearOnComplete: true,
        // Redraw on every tick so a message() printed above the bar is followed by the bar again.
        forceRedraw: true,
        fps: 5,
        // ETA over the last 100 updates: steady through the noise of single steps.
        etaBuffer: 100,
        // Set when tty is forced on for a stream that is not a terminal (tests, `script` logs).
        noTTYOutput: !stream.isTTY,
      });
      bar.start(steps, 0, { loss: '-', acc: '-', lr: '-', ips: '-' });
    },

    step(info) {
      if (!current) throw new Error('step() before epochStart()');
      current.last = info;
      bar?.update(info.step, {
        loss: fixed(info.loss, 4),
        acc: info.accuracy === undefined ? '-' : pct(info.accuracy),
        lr: info.lr === undefined ? '-' : lrText(info.lr),
        ips: info.imagesPerSecond === undefined ? '-' : fixed(info.imagesPerSecond, 1),
      });
    },

    epochEnd(metrics) {
      if (!current) throw new Error('epochEnd() before epochStart()');
      const m = requireObject(metrics, 'epochEnd metrics') as unknown as EpochEndMetrics;
      if (typeof m.loss !== 'number') throw new TypeError(expected('a number', 'epochEnd loss', m.loss));
      const line = formatEpochLine(current.epoch, current.epochs, {
        ...m,
        lr: m.lr ?? current.last?.lr,
        imagesPerSecond: m.imagesPerSecond ?? current.last?.imagesPerSecond,
        seconds: m.seconds ?? (Date.now() - current.started) / 1000,
      });
      endBar();
      current = undefined;
      stream.write(line + '\n');
    },

    message(text) {
      if (typeof text !== 'string') throw new TypeError(expected('a string', 'message text', text));
      // On a terminal with a bar drawn, blank its line first; the next tick draws it again below the message.
      stream.write((bar ? '\r\x1b[2K' : '') + text + '\n');
    },

    stop() {
      endBar();
      current = undefined;
    },
  };
}

/** A reporter that reports nothing: the ranks of a data-parallel job other than rank 0, which reports for all. */
export function silentProgressReporter(): ProgressReporter {
  const nothing = () => undefined;
  return { epochStart: nothing, step: nothing, epochEnd: nothing, message: nothing, stop: nothing };
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function pct(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)}%` : String(fraction);
}

// Learning rates span decades (1e-2 down to 1e-7); three significant digits in exponent form read at a glance.
function lrText(lr: number): string {
  return lr === 0 ? '0' : lr.toExponential(2);
}
