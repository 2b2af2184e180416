// Where each preprocessing step cuts and scales, as pure arithmetic on image sizes, separate from the pixels so it
// can be compared exactly with the article's Python. The article computes these with Python's int() (truncation) and
// round() (half to even), so both are reproduced: a crop one pixel off is a different input to the model.
import type { Rng } from './random';

export interface Box {
  top: number;
  left: number;
  width: number;
  height: number;
}

/** Python 3's round(): halves go to the even neighbour (round(2.5) == 2, round(3.5) == 4). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface CenterCropGeometry {
  /** The size the whole image is first resized to (equal to the source size when no resize happens). */
  resizeWidth: number;
  resizeHeight: number;
  /** The crop, in the resized image, that becomes the output [height, width]. */
  crop: Box;
}

/**
 * The article's evaluation geometry (letterbox_image with letterbox off): for a square target S the shorter side is
 * scaled to S, the other to int(S * long / short), and an image whose shorter side already is S is left alone;
 * then the centre S x S is cut, its offset round((size - S) / 2). A non-square target is a plain resize to it.
 */
export function centerCropGeometry(
  width: number,
  height: number,
  target: readonly [number, number],
): CenterCropGeometry {
  const [th, tw] = target;
  if (th !== tw) return { resizeWidth: tw, resizeHeight: th, crop: { top: 0, left: 0, width: tw, height: th } };
  const size = th;
  let rw = width;
  let rh = height;
  if (!((width <= height && width === size) || (height <= width && height === size))) {
    if (width < height) {
      rw = size;
      rh = Math.trunc((size * height) / width);
    } else {
      rh = size;
      rw = Math.trunc((size * width) / height);
    }
  }
  return {
    resizeWidth: rw,
    resizeHeight: rh,
    crop: { top: roundHalfEven((rh - size) / 2), left: roundHalfEven((rw - size) / 2), width: size, height: size },
  };
}

export interface LetterboxGeometry {
  /** The size the image is resized to, keeping its aspect ratio (truncated, as the article's int()). */
  resizeWidth: number;
  resizeHeight: number;
  /** Grey (128) borders around it that make up the target size. */
  top: number;
  left: number;
  bottom: number;
  right: number;
}

/** The article's letterbox: scale by min(W / w, H / h), paste centred on grey at ((W - nw) // 2, (H - nh) // 2). */
export function letterboxGeometry(width: number, height: number, target: readonly [number, number]): LetterboxGeometry {
  const [th, tw] = target;
  const scale = Math.min(tw / width, th / height);
  const rw = Math.max(1, Math.trunc(width * scale));
  const rh = Math.max(1, Math.trunc(height * scale));
  const left = Math.floor((tw - rw) / 2);
  const top = Math.floor((th - rh) / 2);
  return { resizeWidth: rw, resizeHeight: rh, top, left, bottom: th - rh - top, right: tw - rw - left };
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction uniform in `scale` and an aspect
 * ratio log-uniform in `ratio`, sides rounded, kept if it fits, at a uniform position; otherwise the centred crop
 * of the whole image clamped to the ratio range. Draws from `rng` in torchvision's order (area, ratio, top, left).
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): Box {
  const area = width * height;
  const logLow = Math.log(ratio[0]);
  const logHigh = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLow, logHigh));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.intBetween(0, height - h);
      const left = rng.intBetween(0, width - w);
      return { top, left, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), width: w, height: h };
}
