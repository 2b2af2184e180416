// A dataset of image files: either the lines of one of the article's annotation files (cls_train.txt, with the class
// list giving the class count), or a folder with one subfolder per class (DIR/<class>/*.jpg, classes sorted as
// txt_annotation.py's class list would be when made from the folder names). Images are decoded per load by the
// Preprocessor, so memory holds paths, not pixels.
import * as path from 'path';
import { DataError } from './errors';
import { byCodeUnit, listClassFolders, listImages, readAnnotations, readClasses } from './annotations';
import { ImageSource, PreprocessOptions, Preprocessor } from './preprocess';
import type { Dataset, LoadedSamples } from './dataset';
import type { Rng } from './random';
import { checkStreams } from './uint8-augment';
import { expected, rejectUnknownKeys, requireObject, requireString } from '../validate';

export interface ImageFolderOptions extends PreprocessOptions {
  /** An annotation file of `<class index>;<image path>` lines. */
  annotations?: string;
  /** Or a folder of class subfolders. */
  root?: string;
  /** The class list file, or the names; required with `annotations` unless the indices alone will do. */
  classes?: string | string[];
  /** Relative annotation paths are resolved against this (default: the current directory, as the article does). */
  baseDir?: string;
}

export interface ImageItem {
  path: string;
  label: number;
  /** The annotation line it came from, when it came from one. */
  line?: number;
}

const OWN_OPTIONS = ['annotations', 'root', 'classes', 'baseDir'];

export async function imageFolderDataset(options: ImageFolderOptions): Promise<ImageFolderDataset> {
  const opts = requireObject(options, 'imageFolderDataset options');
  const { annotations, root, classes, baseDir, ...preprocess } = opts;
  rejectUnknownKeys(
    opts,
    [...OWN_OPTIONS, 'size', 'resize', 'mean', 'std', 'channels', 'augmentation'],
    'imageFolderDataset options',
  );
  if ((annotations === undefined) === (root === undefined)) {
    throw new TypeError(
      expected('exactly one of annotations (a file) or root (a folder)', 'imageFolderDataset options', {
        annotations,
        root,
      }),
    );
  }
  const preprocessor = new Preprocessor(preprocess as unknown as PreprocessOptions);
  let classNames: string[] | undefined;
  if (typeof classes === 'string') classNames = await readClasses(classes);
  else if (Array.isArray(classes) && classes.every((c) => typeof c === 'string')) classNames = classes.slice();
  else if (classes !== undefined)
    throw new TypeError(expected('a class list file or an array of names', 'classes', classes));

  const items: ImageItem[] = [];
  let source: string;
  if (annotations !== undefined) {
    source = requireString(annotations, 'annotations');
    const base = baseDir === undefined ? process.cwd() : requireString(baseDir, 'baseDir');
    for (const entry of await readAnnotations(source, classNames?.length)) {
      items.push({ path: path.resolve(base, entry.path), label: entry.label, line: entry.line });
    }
  } else {
    source = requireString(root, 'root');
    const folders = await listClassFolders(source);
    classNames ??= folders;
    const index = new Map(classNames.map((name, i) => [name, i]));
    for (const folder of folders.sort(byCodeUnit)) {
      const label = index.get(folder);
      if (label === undefined) continue;
      for (const name of await listImages(path.join(source, folder)))
        items.push({ path: path.join(source, folder, name), label });
    }
  }
  let numClasses = classNames?.length;
  if (numClasses === undefined) numClasses = items.reduce((max, item) => Math.max(max, item.label), -1) + 1;
  return new ImageFolderDataset(items, preprocessor, numClasses, classNames, source);
}

export class ImageFolderDataset implements Dataset {
  readonly length: number;
  readonly sampleShape: readonly [number, number, number];

  constructor(
    readonly items: readonly ImageItem[],
    readonly preprocessor: Preprocessor,
    readonly numClasses: number,
    readonly classNames: readonly string[] | undefined,
    /** The annotation file or root folder the items came from. */
    readonly source: string,
  ) {
    this.length = items.length;
    this.sampleShape = preprocessor.sampleShape;
  }

  labelOf(index: number): number {
    return this.item(index).label;
  }

  labels(): Int32Array {
    return Int32Array.from(this.items, (item) => item.label);
  }

  /** All images of the batch are handed to sharp at once; libuv's pool decides how many decode in parallel. */
  async load(indices: ArrayLike<number>, streams?: readonly Rng[]): Promise<LoadedSamples> {
    checkStreams(indices, streams);
    const [c, h, w] = this.sampleShape;
    const size = c * h * w;
    const images = new Float32Array(indices.length * size);
    const labels = new Int32Array(indices.length);
    const jobs: Promise<unknown>[] = [];
    for (let k = 0; k < indices.length; k++) {
      const item = this.item(indices[k]);
      labels[k] = item.label;
      const image: ImageSource = item.path;
      const job = streams
        ? this.preprocessor.augment(image, streams[k], images, k * size)
        : this.preprocessor.evaluate(image, images, k * size);
      jobs.push(
        job.catch((error: unknown) => {
          if (error instanceof DataError && item.line !== undefined) {
            throw new DataError(
              `${error.message} (listed on line ${item.line} of ${this.source})`,
              error.file,
              error.line,
            );
          }
          throw error;
        }),
      );
    }
    await Promise.all(jobs);
    return { images, labels };
  }

  private item(index: number): ImageItem {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(expected(`a sample index in [0, ${this.length - 1}]`, 'index', index));
    }
    return this.items[index];
  }
}
