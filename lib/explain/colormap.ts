// The colour map of the explanation overlays: viridis (Smith and van der Walt, matplotlib's default colour map
// since 2.0). Chosen over the jet map that jacobgil/vit-explain draws with (OpenCV's COLORMAP_JET) because its
// lightness rises steadily from the low end to the high end, so brighter always means more attention, with no false
// edges where jet's hues change; it stays readable to the common forms of colour blindness and in greyscale print.
// Its dark violet low end and bright yellow high end also stay apart from each other over most photographs.
//
// The control points are 33 of the 256 entries of matplotlib's viridis table (entries round(i * 255 / 32)), as 8-bit
// sRGB; piecewise-linear interpolation between them stays within 2 / 255 of the full table in every channel.
import { expected } from '../validate';

export type Rgb = readonly [number, number, number];

/** viridis at 0, 1/32, ..., 1: violet (68, 1, 84) through blue and green to yellow (253, 231, 37). */
export const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [71, 13, 96],
  [72, 24, 106],
  [72, 35, 116],
  [71, 45, 123],
  [69, 55, 129],
  [66, 64, 134],
  [62, 73, 137],
  [59, 82, 139],
  [55, 91, 141],
  [51, 99, 141],
  [47, 107, 142],
  [44, 114, 142],
  [41, 122, 142],
  [38, 130, 142],
  [35, 137, 142],
  [33, 145, 140],
  [31, 151, 139],
  [31, 159, 136],
  [33, 166, 133],
  [39, 173, 129],
  [49, 181, 123],
  [61, 188, 116],
  [76, 194, 108],
  [92, 200, 99],
  [110, 206, 88],
  [129, 211, 77],
  [149, 216, 64],
  [170, 220, 50],
  [192, 223, 37],
  [213, 226, 26],
  [234, 229, 26],
  [253, 231, 37],
];

/** The colour of `value` in [0, 1] (clamped) under control points spaced evenly over [0, 1], interpolated linearly. */
export function colourAt(value: number, points: readonly Rgb[] = VIRIDIS): [number, number, number] {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(expected('a number', 'value', value));
  if (points.length < 2) throw new RangeError(expected('at least 2 control points', 'points', points));
  const position = Math.min(1, Math.max(0, value)) * (points.length - 1);
  const i = Math.min(points.length - 2, Math.floor(position));
  const t = position - i;
  const [a, b] = [points[i], points[i + 1]];
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** The colour map sampled at the 256 values of an 8-bit heat image: entry v (3 bytes, RGB) is colourAt(v / 255). */
export function colourTable(points: readonly Rgb[] = VIRIDIS): Uint8Array {
  const table = new Uint8Array(256 * 3);
  for (let v = 0; v < 256; v++) {
    const rgb = colourAt(v / 255, points);
    for (let c = 0; c < 3; c++) table[v * 3 + c] = Math.round(rgb[c]);
  }
  return table;
}
