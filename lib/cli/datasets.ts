// Datasets from a training config's data sources: IDX files held in memory, or image files (the seed's
// annotation lines or class folders) decoded and preprocessed by sharp. The same preprocessing serves training
// (with augmentation) and evaluation (without), as the config states it.
import type { Dataset } from '../data/dataset';
import { idxDataset } from '../data/idx';
import { imageFolderDataset } from '../data/image-folder';
import { DataError } from '../data/errors';
import type { AugmentConfig, DataSource, PreprocessConfig } from './train-config';

export async function datasetFrom(
  source: DataSource, preprocess: PreprocessConfig, augment: AugmentConfig, classes: string[],
): Promise<Dataset> {
  const numClasses = classes.length;
  if (source.format === 'idx') {
    const dataset = await idxDataset({
      images: source.images, labels: source.labels, numClasses, mean: preprocess.mean, std: preprocess.std,
      channels: preprocess.channels,
      augmentation: { horizontalFlip: augment.horizontalFlip, cropPadding: augment.cropPadding, autoAugment: augment.autoAugment },
    });
    const [, h, w] = dataset.sampleShape;
    if (h !== preprocess.size[0] || w !== preprocess.size[1]) {
      throw new DataError(`${source.images}: expected images of ${preprocess.size[0]}x${preprocess.size[1]} (the model's ` +
        `inputShape; IDX images are not resized), received ${h}x${w}`, source.images);
    }
    return dataset;
  }
  const augmentation = { horizontalFlip: augment.horizontalFlip, autoAugment: augment.autoAugment, ...(augment.randomResizedCrop ? {} : { scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number] }) };
  const common = {
    size: preprocess.size, resize: preprocess.resize, mean: preprocess.mean, std: preprocess.std,
    channels: preprocess.channels, augmentation, classes,
  };
  return source.format === 'annotations'
    ? imageFolderDataset({ annotations: source.file, ...common })
    : imageFolderDataset({ root: source.root, ...common });
}
