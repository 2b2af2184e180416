// The files of one validation pass, as `vitorch train` (after each epoch) and `vitorch eval` write them into a
// folder: confusion.csv (the matrix), per_class.csv (precision, recall, support) and confusion.svg (the picture).
import * as path from 'path';
import { writeFileAtomicSync } from '../atomic-write';
import { Confusion, confusionCsv, perClassCsv } from './confusion';
import { confusionSvg } from './confusion-svg';

export const CONFUSION_FILES = ['confusion.csv', 'per_class.csv', 'confusion.svg'] as const;

/** Writes the three files of `c` into `dir` (which must exist), each atomically. */
export function writeConfusionFiles(dir: string, c: Confusion, title: string): void {
  writeFileAtomicSync(path.join(dir, 'confusion.csv'), confusionCsv(c));
  writeFileAtomicSync(path.join(dir, 'per_class.csv'), perClassCsv(c));
  writeFileAtomicSync(path.join(dir, 'confusion.svg'), confusionSvg(c, { title }));
}
