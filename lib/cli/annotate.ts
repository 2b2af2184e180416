// `vitorch annotate DIR [--out DIR] [--classes FILE]`: writes the seed's cls_train.txt and cls_test.txt (and, without
// --classes, model_data/cls_classes.txt from DIR/train's folder names) for DIR/train/<class>/ and DIR/test/<class>/.
// Exit codes: 0 written, 1 a data problem (missing folder, bad class list), 2 wrong usage.
import { annotate } from '../data/annotations';
import { DataError } from '../data/errors';

export const ANNOTATE_USAGE = 'usage: vitorch annotate DIR [--out DIR] [--classes FILE]';

export async function annotateCommand(args: string[]): Promise<number> {
  const positional: string[] = [];
  const options: { out?: string; classesFile?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--out' || arg === '--classes') {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) {
        console.error(`vitorch annotate: ${arg} needs a value\n${ANNOTATE_USAGE}`);
        return 2;
      }
      if (arg === '--out') options.out = value;
      else options.classesFile = value;
    } else if (arg.startsWith('--')) {
      console.error(`vitorch annotate: unknown option ${arg}\n${ANNOTATE_USAGE}`);
      return 2;
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) {
    console.error(ANNOTATE_USAGE);
    return 2;
  }
  try {
    const result = await annotate(positional[0], options);
    const total = (counts: number[]): number => counts.reduce((a, b) => a + b, 0);
    const lines = [
      `classes:  ${result.classes.length} (${result.classesFile})`,
      `train:    ${total(result.counts.train)} images -> ${result.files.train}`,
      `test:     ${total(result.counts.test)} images -> ${result.files.test}`,
      ...result.classes.map((name, i) => `  ${i}  ${name}: ${result.counts.train[i]} train, ${result.counts.test[i]} test`),
      ...result.skipped.map((folder) => `skipped:  ${folder} (not in the class list)`),
    ];
    console.log(lines.join('\n'));
    return 0;
  } catch (error) {
    if (error instanceof DataError) {
      console.error(`vitorch annotate: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
