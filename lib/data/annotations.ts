// The article's dataset files: the class list (model_data/cls_classes.txt, one name per line, its get_classes) and
// the annotation files (cls_train.txt, cls_test.txt, one `<class index>;<image path>` per line, written by its
// txt_annotation.py from datasets/train/<class>/ and datasets/test/<class>/), and `annotate`, which writes them.
//
// Differences from the article, each on purpose: a blank line inside the class list is an error (the article would
// make it a class named '' and shift every index after it), trailing blank lines are ignored; an annotation path
// is everything after the first ';' (the article keeps only its first word, which breaks paths with spaces); image
// extensions are matched case-insensitively and include .webp; files are listed in sorted order, not readdir's.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../atomic-write';
import { DataError, dataError } from './errors';
import { rejectUnknownKeys, requireObject, requireString } from '../validate';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];
export const SPLITS = ['train', 'test'] as const;

export interface AnnotationEntry {
  label: number;
  /** The image path as written in the file. */
  path: string;
  /** 1-based line number in the annotation file. */
  line: number;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw dataError(
      file,
      code === 'ENOENT' ? `no such file: expected ${what}` : `cannot read ${what}: ${(error as Error).message}`,
    );
  }
}

function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
}

/** Class names from the text of a class list; `file` names it in errors. */
export function parseClasses(text: string, file: string): string[] {
  const names = lines(text).map((line) => line.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  if (names.length === 0) throw dataError(file, 'expected at least one class name, received an empty class list');
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === '')
      throw dataError(
        file,
        'expected a class name, received a blank line (it would shift the class indices after it)',
        i + 1,
      );
    const first = seen.get(name);
    if (first !== undefined)
      throw dataError(file, `expected unique class names, received '${name}' again (first on line ${first})`, i + 1);
    seen.set(name, i + 1);
  });
  return names;
}

export async function readClasses(file: string): Promise<string[]> {
  return parseClasses(await readText(requireString(file, 'classes file'), 'a class list, one name per line'), file);
}

/** Entries of an annotation file's text; with `numClasses`, indices at or above it are errors. */
export function parseAnnotations(text: string, file: string, numClasses?: number): AnnotationEntry[] {
  const entries: AnnotationEntry[] = [];
  lines(text).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trim();
    if (content === '') return;
    const semicolon = content.indexOf(';');
    if (semicolon < 0) {
      throw dataError(file, `expected '<class index>;<image path>', received '${clip(content)}' (no ';')`, line);
    }
    const index = content.slice(0, semicolon).trim();
    const imagePath = content.slice(semicolon + 1).trim();
    if (!/^\d+$/.test(index) || !Number.isSafeInteger(Number(index))) {
      throw dataError(
        file,
        `expected a class index (a non-negative integer) before ';', received '${clip(index)}'`,
        line,
      );
    }
    const label = Number(index);
    if (numClasses !== undefined && label >= numClasses) {
      throw dataError(
        file,
        `class index ${label} is out of range: expected an index in [0, ${numClasses - 1}] for ${numClasses} classes`,
        line,
      );
    }
    if (imagePath === '') throw dataError(file, `expected an image path after '${index};', received nothing`, line);
    entries.push({ label, path: imagePath, line });
  });
  return entries;
}

export async function readAnnotations(file: string, numClasses?: number): Promise<AnnotationEntry[]> {
  requireString(file, 'annotation file');
  return parseAnnotations(
    await readText(file, "an annotation file of '<class index>;<image path>' lines"),
    file,
    numClasses,
  );
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

async function listDir(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw dataError(
      dir,
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ENOTDIR'
          ? 'expected a directory, received a file'
          : `cannot list: ${(error as Error).message}`,
    );
  }
}

/** Subfolder names, in code-unit order (Python's sorted()). */
export async function listClassFolders(dir: string): Promise<string[]> {
  const entries = await listDir(dir);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort(byCodeUnit);
}

/** Image files directly in `dir`, sorted. */
export async function listImages(dir: string): Promise<string[]> {
  const entries = await listDir(dir);
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort(byCodeUnit);
}

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface AnnotateOptions {
  /** A class list to use (its order gives the indices); folders not in it are skipped, as the article does. */
  classesFile?: string;
  /** Where cls_train.txt and cls_test.txt go (default: the current directory, as the article does). */
  out?: string;
}

export interface AnnotateResult {
  classes: string[];
  /** The class list used: `classesFile`, or OUT/model_data/cls_classes.txt written from DIR/train's sorted folders. */
  classesFile: string;
  files: { train: string; test: string };
  /** Images per class, per split. */
  counts: { train: number[]; test: number[] };
  /** Folders (as DIR/split/name) that are not classes and were skipped. */
  skipped: string[];
}

/** Writes the article's annotation files for DIR/train/<class>/* and DIR/test/<class>/*. */
export async function annotate(dir: string, options: AnnotateOptions = {}): Promise<AnnotateResult> {
  requireString(dir, 'dir');
  const opts = requireObject(options, 'annotate options');
  rejectUnknownKeys(opts, ['classesFile', 'out'], 'annotate options');
  const out = opts.out === undefined ? '.' : requireString(opts.out, 'out');
  let classes: string[];
  let classesFile: string;
  let writeClasses = false;
  if (opts.classesFile !== undefined) {
    classesFile = requireString(opts.classesFile, 'classesFile');
    classes = await readClasses(classesFile);
  } else {
    classes = await listClassFolders(path.join(dir, 'train'));
    classesFile = path.join(out, 'model_data', 'cls_classes.txt');
    if (classes.length === 0)
      throw dataError(path.join(dir, 'train'), 'expected one folder per class, received no folders');
    writeClasses = true;
  }
  const classIndex = new Map(classes.map((name, i) => [name, i]));
  const counts = { train: new Array<number>(classes.length).fill(0), test: new Array<number>(classes.length).fill(0) };
  const skipped: string[] = [];
  const texts: Record<string, string> = {};
  for (const split of SPLITS) {
    const splitDir = path.join(dir, split);
    const parts: string[] = [];
    for (const folder of await listClassFolders(splitDir)) {
      const index = classIndex.get(folder);
      if (index === undefined) {
        skipped.push(path.join(splitDir, folder));
        continue;
      }
      for (const name of await listImages(path.join(splitDir, folder))) {
        parts.push(`${index};${path.join(splitDir, folder, name)}\n`);
        counts[split][index]++;
      }
    }
    texts[split] = parts.join('');
  }
  await fs.promises.mkdir(out, { recursive: true });
  const files = { train: path.join(out, 'cls_train.txt'), test: path.join(out, 'cls_test.txt') };
  if (writeClasses) {
    await fs.promises.mkdir(path.dirname(classesFile), { recursive: true });
    await writeAtomically(classesFile, classes.map((name) => `${name}\n`).join(''));
  }
  await writeAtomically(files.train, texts.train);
  await writeAtomically(files.test, texts.test);
  return { classes, classesFile, files, counts, skipped };
}

/** An interrupted run never leaves a half-written annotation file behind. */
async function writeAtomically(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text);
  } catch (error) {
    throw new DataError(`${file}: cannot write: ${(error as Error).message}`, file);
  }
}
