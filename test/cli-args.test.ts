// lib/cli/args.ts: the one parser of the vitorch commands and the bench scripts (util.parseArgs underneath, with
// dotted config overrides declared from the command line itself), and its errors in the commands' words.
import { choiceListFlag, integerFlag, integerListFlag, numberFlag, parseArgs, UsageError } from '../lib/cli/args';

const VALUED = ['config', 'top'];
const BOOLEANS = ['json'];

test('flags, both value forms, booleans, positionals, `--`, and dotted overrides as JSON when they parse', () => {
  const parsed = parseArgs(
    [
      '--config',
      'c.json',
      'a.png',
      '--top=3',
      '--json',
      '--train.epochs',
      '5',
      '--train.lr=1e-3',
      '--train.optimizer.kind',
      'adamw',
      '--data.val',
      '{"format":"idx"}',
      '--',
      '--not-a-flag.png',
    ],
    VALUED,
    BOOLEANS,
  );
  expect([...parsed.flags]).toEqual([
    ['config', 'c.json'],
    ['top', '3'],
    ['json', true],
  ]);
  expect(parsed.positional).toEqual(['a.png', '--not-a-flag.png']);
  expect(parsed.overrides).toEqual({
    'train.epochs': 5,
    'train.lr': 0.001,
    'train.optimizer.kind': 'adamw',
    'data.val': { format: 'idx' },
  });
  // The last of a repeated flag wins, as with util.parseArgs.
  expect(parseArgs(['--top', '1', '--top', '2'], VALUED, BOOLEANS).flags.get('top')).toBe('2');
});

test('errors are one UsageError line naming the option', () => {
  const cases: [string[], string, Parameters<typeof parseArgs>[3]?][] = [
    [['--frobnicate'], 'unknown option --frobnicate'],
    [['-x'], 'unknown option -x'],
    [['--config'], '--config needs a value'],
    [['--config', '--json'], "--config needs a value (one that starts with '-' is written --config=VALUE)"],
    [['--json=yes'], '--json takes no value'],
    [['--train.epochs'], '--train.epochs needs a value'],
    [['--train.epochs', '5'], 'unknown option --train.epochs', { overrides: false }],
    [['x.png'], "unexpected argument 'x.png'", { positionals: false }],
  ];
  for (const [args, message, options] of cases) {
    const error = (() => {
      try {
        parseArgs(args, VALUED, BOOLEANS, options);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect({ args, message: (error as Error).message }).toEqual({ args, message });
  }
  // A negative number is written with '='.
  expect(parseArgs(['--top=-1'], VALUED, BOOLEANS).flags.get('top')).toBe('-1');
});

test('typed flags: integers, lists, choices, each refusing a bad value by name', () => {
  const parsed = parseArgs(
    ['--top', '3', '--batches', '1,8,32', '--only', 'a,b', '--lr', 'x', '--zero', '0', '--bad', '1,,2'],
    ['top', 'batches', 'only', 'lr', 'zero', 'bad'],
    [],
  );
  expect(integerFlag(parsed, 'top')).toBe(3);
  expect(integerFlag(parsed, 'absent')).toBeUndefined();
  expect(integerFlag(parsed, 'zero', 0)).toBe(0);
  expect(integerListFlag(parsed, 'batches')).toEqual([1, 8, 32]);
  expect(choiceListFlag(parsed, 'only', ['a', 'b', 'c'])).toEqual(['a', 'b']);
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
  };
  expect(message(() => integerFlag(parsed, 'zero'))).toBe("expected a positive integer for --zero, received '0'");
  expect(message(() => numberFlag(parsed, 'lr', (n) => n > 0, 'a positive number'))).toBe(
    "expected a positive number for --lr, received 'x'",
  );
  expect(message(() => integerListFlag(parsed, 'bad'))).toBe(
    "expected positive integers separated by commas for --bad, received '1,,2'",
  );
  expect(message(() => choiceListFlag(parsed, 'only', ['a']))).toBe('unknown b for --only; known: a');
});
