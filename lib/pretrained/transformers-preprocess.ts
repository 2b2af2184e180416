// The evaluation preprocessing a Hugging Face transformers folder states in its preprocessor_config.json (what
// ViTImageProcessor.save_pretrained writes), in vitorch's terms: the mean and std it normalises with, and notes for
// what vitorch does differently. transformers resizes straight to its size, aspect not kept; vitorch brings the
// shorter side to the model's size and crops the centre, which is the same for square images and keeps the content's
// proportions for others. Without the file, the article's preprocessing (ImageNet mean and std) applies.
import * as fs from 'fs';
import * as path from 'path';
import type { PreprocessConfig } from '../classifier';
import { readConfigJson } from '../classifier';

export interface StatedPreprocess {
  /** What the folder states; the rest is the article's (defaultPreprocess). */
  preprocess: Partial<PreprocessConfig>;
  notes: string[];
}

const PIXEL_SCALE = 1 / 255;

function numbers(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** The side transformers resizes to, as [height, width], or null for a form it does not state that way. */
function statedSize(size: unknown): [number, number] | null {
  if (typeof size === 'number') return [size, size];
  if (typeof size === 'object' && size !== null) {
    const s = size as { height?: unknown; width?: unknown };
    if (typeof s.height === 'number' && typeof s.width === 'number') return [s.height, s.width];
  }
  return null;
}

/** The preprocessing `dir`'s preprocessor_config.json states for a model of `inputShape` ([height, width]). */
export function transformersPreprocess(dir: string, inputShape: readonly [number, number]): StatedPreprocess {
  const file = path.join(dir, 'preprocessor_config.json');
  if (!fs.existsSync(file)) {
    return {
      preprocess: {},
      notes: ["preprocess: the article's (ImageNet mean and std): no preprocessor_config.json says otherwise"],
    };
  }
  const raw = readConfigJson(file);
  const notes: string[] = [];
  const preprocess: Partial<PreprocessConfig> = {};
  if (raw.do_normalize === false) {
    preprocess.mean = [0, 0, 0];
    preprocess.std = [1, 1, 1];
    notes.push('preprocess: preprocessor_config.json does not normalise (do_normalize false): mean 0, std 1');
  } else if (numbers(raw.image_mean) && numbers(raw.image_std)) {
    preprocess.mean = raw.image_mean;
    preprocess.std = raw.image_std;
    notes.push(
      `preprocess: mean [${raw.image_mean.join(', ')}] and std [${raw.image_std.join(', ')}] from ` +
        "preprocessor_config.json; its resize is done as the article's (shorter side, then centre crop), which " +
        'equals it for square images',
    );
  } else {
    notes.push("preprocess: preprocessor_config.json states no image_mean and image_std: the article's (ImageNet)");
  }
  const size = statedSize(raw.size);
  if (raw.do_resize !== false && size !== null && (size[0] !== inputShape[0] || size[1] !== inputShape[1])) {
    notes.push(
      `preprocess: preprocessor_config.json resizes to ${size[0]}x${size[1]}; images are brought to the model's ` +
        `${inputShape[0]}x${inputShape[1]} instead`,
    );
  }
  const scale = raw.do_rescale === false ? 1 : (raw.rescale_factor ?? PIXEL_SCALE);
  if (typeof scale !== 'number' || Math.abs(scale - PIXEL_SCALE) > 1e-9) {
    notes.push(
      `preprocess: preprocessor_config.json scales pixels by ${String(scale)}; vitorch scales them by 1/255 ` +
        '(0 to 1) before the mean and std',
    );
  }
  return { preprocess, notes };
}
