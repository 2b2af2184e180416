// Where the model's input lies in the original image. A rollout grid covers the model's input, which the evaluation
// preprocessing (lib/data/preprocess.ts) made from the image in one of two ways, so the grid maps back differently:
//   centre crop: the input is the middle of the image scaled to the shorter side; the grid covers a rectangle inside
//     the image, and the rest of the image (the long side's ends) was never seen by the model;
//   letterbox: the whole image, scaled to fit, sits inside grey borders; the grid covers a rectangle larger than the
//     image, of which the part over the borders has no image under it.
// Both are computed with the geometry functions the preprocessing itself uses, so the mapping cannot drift from it.
import { centerCropGeometry, letterboxGeometry } from '../data/geometry';
import { expected, requireInteger, requireObject } from '../validate';

/** How the evaluation preprocessing made the model's input: a Preprocessor, or a config's `preprocess`. */
export interface InputGeometry {
  /** The model's input [height, width]. */
  size: readonly [number, number];
  resize: 'center-crop' | 'letterbox';
}

/** A rectangle in the original image's pixels (fractional; it may extend past the image for a letterbox). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The checked geometry: an object with size [height, width] and resize 'center-crop' or 'letterbox'. */
export function requireInputGeometry(value: unknown, argument: string): InputGeometry {
  const o = requireObject(value, argument);
  if (!Array.isArray(o.size) || o.size.length !== 2)
    throw new TypeError(expected('[height, width]', `${argument}.size`, o.size));
  const size: [number, number] = [
    requireInteger(o.size[0], `${argument}.size[0]`, 1),
    requireInteger(o.size[1], `${argument}.size[1]`, 1),
  ];
  if (o.resize !== 'center-crop' && o.resize !== 'letterbox')
    throw new RangeError(expected("'center-crop' or 'letterbox'", `${argument}.resize`, o.resize));
  return { size, resize: o.resize };
}

/** The rectangle of a width x height image that the whole model input (and so the whole rollout grid) covers. */
export function inputRegion(width: number, height: number, geometry: InputGeometry): Region {
  const [th, tw] = geometry.size;
  if (geometry.resize === 'letterbox') {
    const g = letterboxGeometry(width, height, [th, tw]);
    // Input pixels per image pixel differ by axis only through the truncation of the resized size.
    const sx = width / g.resizeWidth;
    const sy = height / g.resizeHeight;
    // Written as differences so that no border gives -0.
    return { left: 0 - g.left * sx, top: 0 - g.top * sy, width: tw * sx, height: th * sy };
  }
  const g = centerCropGeometry(width, height, [th, tw]);
  const sx = width / g.resizeWidth;
  const sy = height / g.resizeHeight;
  return { left: g.crop.left * sx, top: g.crop.top * sy, width: g.crop.width * sx, height: g.crop.height * sy };
}
