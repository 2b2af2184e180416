// The picture of an explanation: an image with its attention rollout laid over it as a heatmap, and the top class
// with its probability written on it. `vitorch explain`, the server's `/v1/classify?explain=1` and the web page all
// draw it here. sharp does the decoding, resizing, compositing and PNG encoding on libuv's threads; the main thread
// only colours the heatmap through a 256-entry table, at most 512 x 512 pixels of it.
//
// How it is drawn:
//   - the picture is the original image (alpha dropped, as the preprocessing drops it; EXIF orientation not applied,
//     as it is not), enlarged by a whole factor with nearest-neighbour pixels when its shorter side is below
//     `minSide`, so that a 28 x 28 Fashion-MNIST image gives a picture one can read the label on;
//   - the grid covers the model's input, placed where that input came from in the image (lib/explain/input-region.ts):
//     with a centre crop, over the middle, and the strips of the image the model never saw are dimmed; with a
//     letterbox, over the whole image, the part of the grid over the grey borders cut away;
//   - the grid is upsampled to that region with a bicubic kernel (sharp's, on the grid as a grey image; sampling at
//     pixel centres, so each patch's value sits at its patch's centre), coloured with viridis (lib/explain/colormap.ts)
//     as given: the rollout is already divided by its maximum, so 1 is the most attended patch of this image;
//   - the colour is blended over the image with a constant `alpha`: picture = (1 - alpha) * image + alpha * colour;
//   - a dark band across the top carries "label 97.3%" (lib/explain/label-band.ts).
import sharp from 'sharp';
import type { OverlayOptions } from 'sharp';
import { DataError, dataError } from '../data/errors';
import { expected, rejectUnknownKeys, requireInteger, requireNumber, requireObject, requireString } from '../validate';
import { colourTable } from './colormap';
import { InputGeometry, inputRegion, Region, requireInputGeometry } from './input-region';
import { labelBand, labelText } from './label-band';

export interface ExplanationInput {
  /** The original image, encoded (any format sharp decodes). */
  image: Uint8Array;
  /** The rollout of that image, [gridH, gridW] row-major, in [0, 1] (attentionRollout's values; clamped). */
  rollout: ArrayLike<number>;
  grid: readonly [number, number];
  /** How the model's input was made from the image: the classifier's preprocessor or its config's `preprocess`. */
  preprocess: InputGeometry;
  label: string;
  probability: number;
  /** Weight of the heatmap's colour in the blend, in [0, 1]; default 0.5. */
  alpha?: number;
  /** Images whose shorter side is smaller are enlarged by a whole factor to reach it; 0 never enlarges. Default 224. */
  minSide?: number;
  /** What errors call the image; default 'image'. */
  name?: string;
}

export const EXPLANATION_DEFAULTS = { alpha: 0.5, minSide: 224 } as const;

/** How the picture of a width x height image is laid out. */
export interface ExplanationLayout {
  /** The picture's size: the image's times `scale`. */
  width: number;
  height: number;
  /** The whole factor the image is enlarged by (1: its own size). */
  scale: number;
  /** The rectangle the rollout grid covers, in the picture's pixels, rounded to whole pixels; it can reach past
   *  the picture (a letterbox), where it is cut. */
  region: Region;
}

// The strips of a centre-cropped image the model did not see are darkened by this much.
const UNSEEN_DIMMING = 0.6;
// The heatmap is coloured at most at this size, then enlarged by sharp: bounds the main thread's work per picture.
const MAX_COLOURED_SIDE = 512;
const TABLE = colourTable();
const KEYS = ['image', 'rollout', 'grid', 'preprocess', 'label', 'probability', 'alpha', 'minSide', 'name'];

/** The layout of the picture of a width x height image (what renderExplanation draws; the CLI's JSON reports it). */
export function explanationLayout(
  width: number,
  height: number,
  preprocess: InputGeometry,
  minSide: number = EXPLANATION_DEFAULTS.minSide,
): ExplanationLayout {
  const shorter = Math.min(width, height);
  const scale = minSide > shorter ? Math.ceil(minSide / shorter) : 1;
  const r = inputRegion(width, height, preprocess);
  const left = Math.round(r.left * scale);
  const top = Math.round(r.top * scale);
  const region = {
    left,
    top,
    width: Math.max(1, Math.round((r.left + r.width) * scale) - left),
    height: Math.max(1, Math.round((r.top + r.height) * scale) - top),
  };
  return { width: width * scale, height: height * scale, scale, region };
}

/** The explanation picture of one image, as PNG bytes. Bad arguments are TypeErrors and RangeErrors naming them; an
 *  image sharp cannot decode is a DataError naming it. */
export async function renderExplanation(input: ExplanationInput): Promise<Buffer> {
  return (await drawExplanation(input)).png;
}

/** renderExplanation's picture with its layout and the image's own size, for callers that report where the grid
 *  lies (`vitorch explain`'s JSON). */
export async function drawExplanation(
  input: ExplanationInput,
): Promise<{ png: Buffer; layout: ExplanationLayout; imageSize: { width: number; height: number } }> {
  const o = requireObject(input, 'renderExplanation input');
  rejectUnknownKeys(o, KEYS, 'renderExplanation input');
  if (!(o.image instanceof Uint8Array))
    throw new TypeError(expected('encoded image bytes (a Uint8Array)', 'image', o.image));
  const name = o.name === undefined ? 'image' : requireString(o.name, 'name');
  if (!Array.isArray(o.grid) || o.grid.length !== 2) throw new TypeError(expected('[gridH, gridW]', 'grid', o.grid));
  const grid: [number, number] = [requireInteger(o.grid[0], 'grid[0]', 1), requireInteger(o.grid[1], 'grid[1]', 1)];
  const rollout = o.rollout as ArrayLike<number>;
  if (!ArrayBuffer.isView(rollout) && !Array.isArray(rollout))
    throw new TypeError(expected('a Float32Array or an array of numbers', 'rollout', rollout));
  if (rollout.length !== grid[0] * grid[1]) {
    throw new RangeError(expected(`${grid[0] * grid[1]} values (gridH * gridW)`, 'rollout', rollout));
  }
  const preprocess = requireInputGeometry(o.preprocess, 'preprocess');
  const label = requireString(o.label, 'label');
  const probability = requireNumber(o.probability, 'probability', (p) => p >= 0 && p <= 1, 'a probability in [0, 1]');
  const alpha =
    o.alpha === undefined
      ? EXPLANATION_DEFAULTS.alpha
      : requireNumber(o.alpha, 'alpha', (a) => a >= 0 && a <= 1, 'a number in [0, 1]');
  const minSide =
    o.minSide === undefined ? EXPLANATION_DEFAULTS.minSide : requireInteger(o.minSide, 'minSide', 0, 65535);

  try {
    const meta = await sharp(o.image).metadata();
    if (!meta.width || !meta.height) throw new Error('no image dimensions in the header');
    const layout = explanationLayout(meta.width, meta.height, preprocess, minSide);
    const layers: OverlayOptions[] = [
      ...unseenStrips(layout),
      await heatLayer(rollout, grid, layout, alpha),
      labelLayer(labelText(label, probability), layout),
    ];
    let picture = sharp(o.image).removeAlpha().toColourspace('srgb');
    if (layout.scale > 1) picture = picture.resize(layout.width, layout.height, { kernel: 'nearest', fit: 'fill' });
    const png = await picture.composite(layers).png().toBuffer();
    return { png, layout, imageSize: { width: meta.width, height: meta.height } };
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw dataError(name, `cannot draw the explanation: ${(error as Error).message}`);
  }
}

/** The heatmap over the part of the region inside the picture, RGBA with alpha `alpha`. */
async function heatLayer(
  rollout: ArrayLike<number>,
  [gridH, gridW]: [number, number],
  layout: ExplanationLayout,
  alpha: number,
): Promise<OverlayOptions> {
  const grey = new Uint8Array(gridH * gridW);
  for (let i = 0; i < grey.length; i++) {
    const v = Number(rollout[i]);
    grey[i] = Number.isNaN(v) ? 0 : Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  const { region } = layout;
  const shrink = Math.min(1, MAX_COLOURED_SIDE / Math.max(region.width, region.height));
  const cw = Math.max(1, Math.round(region.width * shrink));
  const ch = Math.max(1, Math.round(region.height * shrink));
  const heat = await sharp(grey, { raw: { width: gridW, height: gridH, channels: 1 } })
    .resize(cw, ch, { kernel: 'cubic', fit: 'fill' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  const opacity = Math.round(alpha * 255);
  const coloured = Buffer.alloc(cw * ch * 4);
  for (let i = 0, j = 0; i < heat.length; i++, j += 4) {
    const t = heat[i] * 3;
    coloured[j] = TABLE[t];
    coloured[j + 1] = TABLE[t + 1];
    coloured[j + 2] = TABLE[t + 2];
    coloured[j + 3] = opacity;
  }
  // The visible part of the region: all of it for a centre crop, the image's part of it for a letterbox.
  const left = Math.max(0, region.left);
  const top = Math.max(0, region.top);
  const right = Math.min(layout.width, region.left + region.width);
  const bottom = Math.min(layout.height, region.top + region.height);
  let layer = sharp(coloured, { raw: { width: cw, height: ch, channels: 4 } });
  if (cw !== region.width || ch !== region.height) {
    // Colours of neighbouring heat values, so a linear enlargement stays on the colour map to within its rounding.
    layer = sharp(await layer.resize(region.width, region.height, { kernel: 'linear', fit: 'fill' }).raw().toBuffer(), {
      raw: { width: region.width, height: region.height, channels: 4 },
    });
  }
  const data = await layer
    .extract({ left: left - region.left, top: top - region.top, width: right - left, height: bottom - top })
    .raw()
    .toBuffer();
  return { input: data, raw: { width: right - left, height: bottom - top, channels: 4 }, left, top };
}

/** Dark translucent strips over the parts of the picture the region leaves out (none for a letterbox). */
function unseenStrips(layout: ExplanationLayout): OverlayOptions[] {
  const { width, height, region } = layout;
  const background = { r: 0, g: 0, b: 0, alpha: UNSEEN_DIMMING };
  const strips: { left: number; top: number; width: number; height: number }[] = [];
  const top = Math.max(0, region.top);
  const bottom = Math.min(height, region.top + region.height);
  const left = Math.max(0, region.left);
  const right = Math.min(width, region.left + region.width);
  if (top > 0) strips.push({ left: 0, top: 0, width, height: top });
  if (bottom < height) strips.push({ left: 0, top: bottom, width, height: height - bottom });
  if (left > 0) strips.push({ left: 0, top, width: left, height: bottom - top });
  if (right < width) strips.push({ left: right, top, width: width - right, height: bottom - top });
  return strips.map((s) => ({
    input: { create: { width: s.width, height: s.height, channels: 4 as const, background } },
    left: s.left,
    top: s.top,
  }));
}

function labelLayer(text: string, layout: ExplanationLayout): OverlayOptions {
  const band = labelBand(text, layout.width, layout.height);
  return { input: Buffer.from(band.svg), left: 0, top: 0 };
}
