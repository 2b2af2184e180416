// Datasets from a training config's data sources: IDX files held in memory, or image files (the article's
// annotation lines or class folders) decoded and preprocessed by sharp. The same preprocessing serves training
// (with augmentation) and evaluation (without), as the config states it.
import * as path from 'path';
import type { Dataset } from '../data/dataset';
import { idxDataset } from '../data/idx';
import { imageFolderDataset } from '../data/image-folder';
import { DataError } from '../data/errors';
import { ConfigError } from '../errors';
import { expected } from '../validate';
import type { AugmentConfig, DataSource, PreprocessConfig } from './train-config';

/** No augmentation: what evaluation reads data with. */
export const NO_AUGMENT: AugmentConfig = {
  horizontalFlip: false,
  randomResizedCrop: false,
  cropPadding: 0,
  autoAugment: false,
};

const SOURCE_KEYS = { idx: ['images', 'labels'], annotations: ['file'], folder: ['root'] } as const;

/** A config's data source (`where` in `file`, e.g. data.val) checked, its relative paths taken from `baseDir`. */
export function dataSourceFrom(value: unknown, where: string, file: string, baseDir: string): DataSource {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(file, expected('an object', where, value));
  const o = value as Record<string, unknown>;
  const format = o.format as keyof typeof SOURCE_KEYS;
  if (!Object.hasOwn(SOURCE_KEYS, format)) {
    throw new ConfigError(file, expected("format 'idx', 'annotations' or 'folder'", `${where}.format`, o.format));
  }
  const known = ['format', ...SOURCE_KEYS[format]];
  for (const key of Object.keys(o)) {
    if (!known.includes(key))
      throw new ConfigError(file, `unknown option '${key}' for ${where}; known options: ${known.join(', ')}`);
  }
  const paths: Record<string, string> = {};
  for (const key of SOURCE_KEYS[format]) {
    const given = o[key];
    if (typeof given !== 'string' || given === '')
      throw new ConfigError(file, expected('a path', `${where}.${key}`, given));
    paths[key] = path.resolve(baseDir, given);
  }
  return { format, ...paths } as DataSource;
}

export async function datasetFrom(
  source: DataSource,
  preprocess: PreprocessConfig,
  augment: AugmentConfig,
  classes: string[],
): Promise<Dataset> {
  const numClasses = classes.length;
  if (source.format === 'idx') {
    const dataset = await idxDataset({
      images: source.images,
      labels: source.labels,
      numClasses,
      mean: preprocess.mean,
      std: preprocess.std,
      channels: preprocess.channels,
      augmentation: {
        horizontalFlip: augment.horizontalFlip,
        cropPadding: augment.cropPadding,
        autoAugment: augment.autoAugment,
      },
    });
    const [, h, w] = dataset.sampleShape;
    if (h !== preprocess.size[0] || w !== preprocess.size[1]) {
      throw new DataError(
        `${source.images}: expected images of ${preprocess.size[0]}x${preprocess.size[1]} (the model's ` +
          `inputShape; IDX images are not resized), received ${h}x${w}`,
        source.images,
      );
    }
    return dataset;
  }
  const augmentation = {
    horizontalFlip: augment.horizontalFlip,
    autoAugment: augment.autoAugment,
    ...(augment.randomResizedCrop ? {} : { scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number] }),
  };
  const common = {
    size: preprocess.size,
    resize: preprocess.resize,
    mean: preprocess.mean,
    std: preprocess.std,
    channels: preprocess.channels,
    augmentation,
    classes,
  };
  return source.format === 'annotations'
    ? imageFolderDataset({ annotations: source.file, ...common })
    : imageFolderDataset({ root: source.root, ...common });
}
