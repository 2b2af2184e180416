// The training curves: one record per finished epoch, the data behind the CSV report and the curves SVG.
// Accuracies are fractions in [0, 1] (the SVG shows them as percent); a value a run did not measure (no
// validation set, say) is left out, and the CSV leaves its field empty.
import { writeFileAtomicSync } from '../atomic-write';
import { formatCsv, parseCsv } from './csv';
import { expected } from '../validate';

export interface EpochRecord {
  /** 1-based epoch number, as shown to the user. */
  epoch: number;
  trainLoss: number;
  valLoss?: number;
  /** Validation top-1 accuracy, a fraction in [0, 1]. */
  top1?: number;
  /** Validation top-5 accuracy, a fraction in [0, 1]. */
  top5?: number;
  /** The learning rate the epoch ran with (its first step's, for per-step schedules). */
  lr: number;
  /** Training throughput over the epoch. */
  imagesPerSecond?: number;
  /** Wall-clock seconds of the epoch, validation included. */
  seconds?: number;
}

/** The CSV columns, in order, and the record field each one holds. */
export const CURVES_CSV_COLUMNS = Object.freeze([
  ['epoch', 'epoch'],
  ['train_loss', 'trainLoss'],
  ['val_loss', 'valLoss'],
  ['top1', 'top1'],
  ['top5', 'top5'],
  ['lr', 'lr'],
  ['images_per_second', 'imagesPerSecond'],
  ['seconds', 'seconds'],
] as const);

type Field = (typeof CURVES_CSV_COLUMNS)[number][1];
const REQUIRED: readonly Field[] = ['epoch', 'trainLoss', 'lr'];

export function checkEpochRecords(records: readonly EpochRecord[], argument: string): void {
  if (!Array.isArray(records)) throw new TypeError(expected('an array of epoch records', argument, records));
  records.forEach((record, i) => {
    if (typeof record !== 'object' || record === null)
      throw new TypeError(expected('an epoch record', `${argument}[${i}]`, record));
    for (const [, field] of CURVES_CSV_COLUMNS) {
      const value = record[field];
      if (value === undefined && !REQUIRED.includes(field)) continue;
      // NaN is allowed: a diverged loss is worth plotting and writing down as it is.
      if (typeof value !== 'number') throw new TypeError(expected('a number', `${argument}[${i}].${field}`, value));
    }
  });
}

/** The curves as CSV text with a header row (RFC 4180, CRLF line ends). */
export function curvesToCsv(records: readonly EpochRecord[]): string {
  checkEpochRecords(records, 'curvesToCsv records');
  const header = CURVES_CSV_COLUMNS.map(([column]) => column);
  return formatCsv([header, ...records.map((r) => CURVES_CSV_COLUMNS.map(([, field]) => r[field]))]);
}

/** Reads what curvesToCsv wrote (columns found by header name, so extra columns are ignored). */
export function curvesFromCsv(text: string): EpochRecord[] {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new RangeError(expected('a CSV with a header row', 'curvesFromCsv text', text));
  const index = new Map(header.map((name, i) => [name, i]));
  for (const field of REQUIRED) {
    const column = CURVES_CSV_COLUMNS.find(([, f]) => f === field)![0];
    if (!index.has(column)) throw new RangeError(`curves CSV has no '${column}' column; header: ${header.join(',')}`);
  }
  return rows.map((row) => {
    const record: Partial<Record<Field, number>> = {};
    for (const [column, field] of CURVES_CSV_COLUMNS) {
      const text = index.has(column) ? row[index.get(column)!] : undefined;
      if (text !== undefined && text !== '') record[field] = Number(text);
    }
    return record as EpochRecord;
  });
}

/** Writes the curves CSV to a file (whole, each time: a run killed mid-write leaves the previous epoch's file). */
export function writeCurvesCsv(file: string, records: readonly EpochRecord[]): void {
  writeFileAtomicSync(file, curvesToCsv(records));
}
