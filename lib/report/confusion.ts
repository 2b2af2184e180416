// The confusion matrix of a classifier on a labelled set, and what is read from it: top-1 accuracy and per-class
// precision and recall. Rows are the true class, columns the predicted one (sklearn's and torchmetrics' order),
// so a row sums to the class's support and the diagonal over it is the class's recall.
import { formatCsv } from './csv';
import { expected } from '../validate';

export type ClassIndices = readonly number[] | Int32Array | Uint8Array | Uint16Array | Int16Array | BigInt64Array;

export interface Confusion {
  classNames: readonly string[];
  /** matrix[trueClass][predictedClass] = how many samples. */
  matrix: number[][];
  total: number;
  /** Fraction of samples on the diagonal; NaN for an empty set. */
  top1: number;
  /** Per class: correct / predicted as that class; NaN where the class was never predicted (0 / 0). */
  precision: number[];
  /** Per class: correct / samples of that class; NaN where the class has no samples (0 / 0). */
  recall: number[];
  /** Per class: how many samples are of that class (the row sums). */
  support: number[];
}

/**
 * Counts (label, prediction) pairs. `classes` is the class names, or their number (names then are '0', '1', ...).
 * NaN rather than 0 for an undefined precision or recall, so a class the set lacks is not reported as a failure.
 */
export function confusion(
  labels: ClassIndices,
  predictions: ClassIndices,
  classes: readonly string[] | number,
): Confusion {
  const classNames = typeof classes === 'number' ? requireClassCount(classes) : requireClassNames(classes);
  const k = classNames.length;
  const truth = requireIndices(labels, 'confusion labels', k);
  const predicted = requireIndices(predictions, 'confusion predictions', k);
  if (truth.length !== predicted.length) {
    throw new RangeError(
      `expected as many predictions as labels for confusion, received ${predicted.length} predictions and ${truth.length} labels`,
    );
  }
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < truth.length; i++) matrix[truth[i]][predicted[i]] += 1;

  const support = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const predictedCount = classNames.map((_, j) => matrix.reduce((sum, row) => sum + row[j], 0));
  const correct = classNames.map((_, j) => matrix[j][j]);
  const total = truth.length;
  return {
    classNames,
    matrix,
    total,
    top1: correct.reduce((a, b) => a + b, 0) / total,
    precision: correct.map((c, j) => c / predictedCount[j]),
    recall: correct.map((c, j) => c / support[j]),
    support,
  };
}

/** The matrix as CSV: a header of predicted classes, then one row per true class led by its name. */
export function confusionCsv(c: Confusion): string {
  const header = ['true \\ predicted', ...c.classNames];
  return formatCsv([header, ...c.matrix.map((row, i) => [c.classNames[i], ...row])]);
}

/** Per-class precision, recall and support as CSV (empty fields where a value is undefined). */
export function perClassCsv(c: Confusion): string {
  const rows = c.classNames.map((name, i) => [name, blankNaN(c.precision[i]), blankNaN(c.recall[i]), c.support[i]]);
  return formatCsv([['class', 'precision', 'recall', 'support'], ...rows]);
}

function blankNaN(value: number): number | undefined {
  return Number.isNaN(value) ? undefined : value;
}

function requireClassCount(count: number): string[] {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(expected('an integer >= 1', 'confusion classes', count));
  return Array.from({ length: count }, (_, i) => String(i));
}

function requireClassNames(names: readonly string[]): string[] {
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw new TypeError(expected('a non-empty array of class names or a class count', 'confusion classes', names));
  }
  return [...names];
}

function requireIndices(values: ClassIndices, argument: string, classCount: number): number[] {
  if (!Array.isArray(values) && !ArrayBuffer.isView(values)) {
    throw new TypeError(expected('an array of class indices', argument, values));
  }
  const out = Array.from(values as ArrayLike<number | bigint>, Number);
  const bad = out.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= classCount);
  if (bad >= 0) {
    throw new RangeError(
      expected(`class indices in [0, ${classCount - 1}]`, argument, values) + ` (element ${bad} is ${out[bad]})`,
    );
  }
  return out;
}
