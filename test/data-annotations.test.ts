// The seed's class list and annotation files: parsing (errors with file and line), `annotate` and the
// `vitorch annotate` command on a folder tree, and image-folder datasets made from both.
import * as fs from 'fs';
import * as path from 'path';
import { annotate, parseAnnotations, parseClasses, readClasses } from '../lib/data/annotations';
import { annotateCommand } from '../lib/cli/annotate';
import { DataError } from '../lib/data/errors';
import { imageFolderDataset } from '../lib/data/image-folder';
import { Preprocessor } from '../lib/data/preprocess';
import { fixture, dataManifest, tempDir } from './data-fixtures';

dataManifest();

function thrown(f: () => unknown): DataError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    return error as DataError;
  }
  throw new Error('expected a DataError');
}

describe("class list (the seed's get_classes: one stripped name per line)", () => {
  test("CRLF, surrounding spaces and trailing blank lines, as in the seed's own model_data/cls_classes.txt", () => {
    expect(parseClasses('cat\r\ndog', 'c.txt')).toEqual(['cat', 'dog']);
    expect(parseClasses('\uFEFF cat \n dog\n\n\n', 'c.txt')).toEqual(['cat', 'dog']);
  });
  test('a blank line inside, a duplicate, an empty file', () => {
    let e = thrown(() => parseClasses('cat\n\ndog\n', 'c.txt'));
    expect([e.file, e.line, e.message]).toEqual([
      'c.txt',
      2,
      'c.txt line 2: expected a class name, received a blank line (it would shift the class indices after it)',
    ]);
    e = thrown(() => parseClasses('cat\ndog\ncat\n', 'c.txt'));
    expect(e.message).toBe("c.txt line 3: expected unique class names, received 'cat' again (first on line 1)");
    e = thrown(() => parseClasses('\n\n', 'c.txt'));
    expect(e.message).toBe('c.txt: expected at least one class name, received an empty class list');
  });
});

describe('annotation lines <class index>;<image path>', () => {
  test('parsed with their line numbers; blank lines skipped; paths may hold spaces and ;', () => {
    expect(parseAnnotations('0;datasets/train/cat/1.jpg\n\n1;datasets/train/dog/my dog;2.jpg\r\n', 'a.txt', 2)).toEqual(
      [
        { label: 0, path: 'datasets/train/cat/1.jpg', line: 1 },
        { label: 1, path: 'datasets/train/dog/my dog;2.jpg', line: 3 },
      ],
    );
  });
  test.each([
    ['cat.jpg', 1, "a.txt line 1: expected '<class index>;<image path>', received 'cat.jpg' (no ';')"],
    ['x;cat.jpg', 1, "a.txt line 1: expected a class index (a non-negative integer) before ';', received 'x'"],
    ['0;a.jpg\n-1;b.jpg', 2, "a.txt line 2: expected a class index (a non-negative integer) before ';', received '-1'"],
    [
      '0;a.jpg\n0;b.jpg\n2;c.jpg',
      3,
      'a.txt line 3: class index 2 is out of range: expected an index in [0, 1] for 2 classes',
    ],
    ['1;  ', 1, "a.txt line 1: expected an image path after '1;', received nothing"],
  ])('%j', (text, line, message) => {
    const e = thrown(() => parseAnnotations(text, 'a.txt', 2));
    expect([e.file, e.line, e.message]).toEqual(['a.txt', line, message]);
  });
});

function makeTree(): string {
  const root = tempDir('annotate');
  const png = fs.readFileSync(fixture('images/rgb-40x60.png'));
  const files: Record<string, Buffer> = {
    'train/dog/b.png': png,
    'train/dog/a.PNG': png,
    'train/cat/z.png': png,
    'train/cat/notes.txt': Buffer.from('x'),
    'test/cat/t.png': png,
    'test/bird/x.png': png,
  };
  for (const [name, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, 'datasets', path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(root, 'datasets', name), bytes);
  }
  return root;
}

describe('annotate', () => {
  test('classes from the sorted train folders; files sorted; non-images and unknown classes skipped', async () => {
    const root = makeTree();
    const dir = path.join(root, 'datasets');
    const result = await annotate(dir, { out: root });
    expect(result.classes).toEqual(['cat', 'dog']);
    expect(await readClasses(path.join(root, 'model_data', 'cls_classes.txt'))).toEqual(['cat', 'dog']);
    expect(fs.readFileSync(path.join(root, 'cls_train.txt'), 'utf8')).toBe(
      `0;${dir}/train/cat/z.png\n1;${dir}/train/dog/a.PNG\n1;${dir}/train/dog/b.png\n`,
    );
    expect(fs.readFileSync(path.join(root, 'cls_test.txt'), 'utf8')).toBe(`0;${dir}/test/cat/t.png\n`);
    expect(result.counts).toEqual({ train: [1, 2], test: [1, 0] });
    expect(result.skipped).toEqual([path.join(dir, 'test', 'bird')]);
  });

  test('with a class list its order gives the indices', async () => {
    const root = makeTree();
    fs.writeFileSync(path.join(root, 'classes.txt'), 'dog\ncat\nbird\n');
    const result = await annotate(path.join(root, 'datasets'), {
      out: root,
      classesFile: path.join(root, 'classes.txt'),
    });
    expect(result.counts).toEqual({ train: [2, 1, 0], test: [0, 1, 1] });
    expect(fs.existsSync(path.join(root, 'model_data'))).toBe(false);
  });

  test('vitorch annotate: exit codes 0, 1 (missing folder), 2 (usage)', async () => {
    const root = makeTree();
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await annotateCommand([path.join(root, 'datasets'), '--out', root])).toBe(0);
      expect(log.mock.calls[0][0]).toContain('train:    3 images');
      expect(await annotateCommand([path.join(root, 'nope'), '--out', root])).toBe(1);
      expect(err.mock.calls[0][0]).toBe(`vitorch annotate: ${path.join(root, 'nope', 'train')}: no such directory`);
      expect(await annotateCommand([])).toBe(2);
      expect(await annotateCommand(['a', '--bogus'])).toBe(2);
      expect(await annotateCommand(['a', '--out'])).toBe(2);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });
});

describe('image-folder datasets', () => {
  test('from annotation lines and from a folder: same samples as preprocessing each file', async () => {
    const root = makeTree();
    await annotate(path.join(root, 'datasets'), { out: root });
    const fromLines = await imageFolderDataset({
      annotations: path.join(root, 'cls_train.txt'),
      classes: path.join(root, 'model_data', 'cls_classes.txt'),
      size: 16,
    });
    const fromFolder = await imageFolderDataset({ root: path.join(root, 'datasets', 'train'), size: 16 });
    expect(fromLines.length).toBe(3);
    expect(Array.from(fromLines.labels())).toEqual([0, 1, 1]);
    expect(Array.from(fromFolder.labels())).toEqual([0, 1, 1]);
    expect(fromFolder.numClasses).toBe(2);
    const a = await fromLines.load([2, 0]);
    const b = await fromFolder.load([2, 0]);
    expect(a.images).toEqual(b.images);
    expect(Array.from(a.labels)).toEqual([1, 0]);
    const one = await new Preprocessor({ size: 16 }).evaluate(path.join(root, 'datasets', 'train', 'dog', 'b.png'));
    expect(a.images.subarray(0, 3 * 256)).toEqual(one);
  });

  test('a corrupt image names the image and the annotation line it is listed on', async () => {
    const root = tempDir('corrupt');
    const bad = fixture('images/truncated.jpg');
    fs.writeFileSync(path.join(root, 'cls_test.txt'), `0;${fixture('images/rgb-40x60.png')}\n1;${bad}\n`);
    const ds = await imageFolderDataset({ annotations: path.join(root, 'cls_test.txt'), size: 8 });
    const error = await ds.load([0, 1]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).file).toBe(bad);
    expect((error as DataError).message).toMatch(
      new RegExp(
        `^${bad.replace(/\./g, '\\.')}: cannot decode image: .* \\(listed on line 2 of ${root}/cls_test\\.txt\\)$`,
        's',
      ),
    );
  });
});
