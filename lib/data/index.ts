// The data layer's public surface: datasets (IDX files, the article's annotation files, image folders), sharp
// preprocessing, the article's AutoAugment, seeded randomness and the batch loader. Pure TypeScript over Node and
// sharp: importing it does not load the native addon.
export { DataError } from './errors';
export { Rng, forKey } from './random';
export { IdxDataset, idxDataset, parseIdx, readIdx } from './idx';
export type { IdxArray, IdxDatasetOptions } from './idx';
export type { Uint8Augmentation } from './uint8-augment';
export { IMAGENET_POLICY, applyAutoAugment, applyOp, autoAugment, drawAutoAugment, magnitudeOf } from './auto-augment';
export type { AutoAugmentChoice, AutoAugmentOp, PolicyStep } from './auto-augment';
export type { Uint8Image } from './autoaugment-ops';
export { annotate, parseAnnotations, parseClasses, readAnnotations, readClasses } from './annotations';
export type { AnnotateOptions, AnnotateResult, AnnotationEntry } from './annotations';
export { ImageFolderDataset, imageFolderDataset } from './image-folder';
export type { ImageFolderOptions, ImageItem } from './image-folder';
export { IMAGENET_MEAN, IMAGENET_STD, Preprocessor } from './preprocess';
export type { ImageSource, PreprocessOptions, TrainAugmentation } from './preprocess';
export { centerCropGeometry, letterboxGeometry, randomResizedCropBox, roundHalfEven } from './geometry';
export type { Box, CenterCropGeometry, LetterboxGeometry } from './geometry';
export type { Dataset, LoadedSamples } from './dataset';
export { BatchLoader, EpochIterator } from './loader';
export type { Batch, BatchLoaderOptions } from './loader';
