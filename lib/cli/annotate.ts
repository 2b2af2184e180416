// `vitorch annotate DIR [--out DIR] [--classes FILE]`: writes the article's cls_train.txt and cls_test.txt (and, without
// --classes, model_data/cls_classes.txt from DIR/train's folder names) for DIR/train/<class>/ and DIR/test/<class>/.
// Exit codes: 0 written, 1 a data problem (missing folder, bad class list), 2 wrong usage.
import { annotate } from '../data/annotations';
import { parseArgs, stringFlag, UsageError } from './args';
import { runCommand } from './run-command';

export const ANNOTATE_USAGE = 'usage: vitorch annotate DIR [--out DIR] [--classes FILE]';

export async function annotateCommand(args: string[]): Promise<number> {
  return runCommand('annotate', ANNOTATE_USAGE, async () => {
    const parsed = parseArgs(args, ['out', 'classes'], [], { overrides: false });
    if (parsed.positional.length !== 1) {
      const count = parsed.positional.length;
      throw new UsageError(count === 0 ? 'no folder given' : `expected one folder, received ${count}`);
    }
    const result = await annotate(parsed.positional[0], {
      out: stringFlag(parsed, 'out'),
      classesFile: stringFlag(parsed, 'classes'),
    });
    const total = (counts: number[]): number => counts.reduce((a, b) => a + b, 0);
    const lines = [
      `classes:  ${result.classes.length} (${result.classesFile})`,
      `train:    ${total(result.counts.train)} images -> ${result.files.train}`,
      `test:     ${total(result.counts.test)} images -> ${result.files.test}`,
      ...result.classes.map(
        (name, i) => `  ${i}  ${name}: ${result.counts.train[i]} train, ${result.counts.test[i]} test`,
      ),
      ...result.skipped.map((folder) => `skipped:  ${folder} (not in the class list)`),
    ];
    console.log(lines.join('\n'));
    return 0;
  });
}
