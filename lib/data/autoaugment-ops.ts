// The image operations of the article's AutoAugment, on interleaved HWC bytes with 1 or 3 channels, computed the way
// PIL computes them (the article builds every operation from PIL), so that they give PIL's bytes, not just similar
// ones: the point operations are PIL's lookup tables; colour, contrast and sharpness are PIL's Image.blend in
// float32 arithmetic with truncation; rotate is PIL's nearest-neighbour affine in 16.16 fixed point; shearX is PIL's
// bicubic affine (a = -1) in double arithmetic. tools/make_autoaugment_fixtures.py holds PIL's answers.
//
// A grey image is treated as the article treats one: its cvtColor makes it RGB with three equal channels, on which
// every operation keeps the channels equal, so working on the one channel gives the same bytes (colour is then the
// identity: PIL's luma of equal channels is that value).

/** H x W pixels of `channels` interleaved bytes, row after row. */
export interface Uint8Image {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** The grey level the geometric operations fill uncovered pixels with (the article's fillcolor). */
export const FILL = 128;

function withData(image: Uint8Image, data: Uint8Array): Uint8Image {
  return { data, width: image.width, height: image.height, channels: image.channels };
}

function applyLut(image: Uint8Image, luts: readonly Uint8Array[]): Uint8Image {
  const src = image.data;
  const out = new Uint8Array(src.length);
  const c = image.channels;
  if (c === 1) {
    const lut = luts[0];
    for (let i = 0; i < src.length; i++) out[i] = lut[src[i]];
  } else {
    const [l0, l1, l2] = luts;
    for (let i = 0; i < src.length; i += 3) {
      out[i] = l0[src[i]];
      out[i + 1] = l1[src[i + 1]];
      out[i + 2] = l2[src[i + 2]];
    }
  }
  return withData(image, out);
}

function sameLut(image: Uint8Image, lut: Uint8Array): Uint8Image {
  return applyLut(image, new Array<Uint8Array>(image.channels).fill(lut));
}

/** Per-channel histograms of 256 bins. */
function histograms(image: Uint8Image): Int32Array[] {
  const c = image.channels;
  const hist = Array.from({ length: c }, () => new Int32Array(256));
  const src = image.data;
  if (c === 1) {
    const h0 = hist[0];
    for (let i = 0; i < src.length; i++) h0[src[i]]++;
  } else {
    const [h0, h1, h2] = hist;
    for (let i = 0; i < src.length; i += 3) {
      h0[src[i]]++;
      h1[src[i + 1]]++;
      h2[src[i + 2]]++;
    }
  }
  return hist;
}

/** ImageOps.posterize: keep the top `bits` bits of each value. */
export function posterize(image: Uint8Image, bits: number): Uint8Image {
  const mask = ~((1 << (8 - bits)) - 1) & 0xff;
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v & mask;
  return sameLut(image, lut);
}

/** ImageOps.solarize: values at or above `threshold` are inverted (a threshold of 256 changes nothing). */
export function solarize(image: Uint8Image, threshold: number): Uint8Image {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v < threshold ? v : 255 - v;
  return sameLut(image, lut);
}

/** ImageOps.invert. */
export function invert(image: Uint8Image): Uint8Image {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = 255 - v;
  return sameLut(image, lut);
}

/** ImageOps.autocontrast (no cutoff): each channel's range stretched to 0-255, int() truncating the new values. */
export function autocontrast(image: Uint8Image): Uint8Image {
  const luts = histograms(image).map((h) => {
    let lo = 0;
    while (lo < 255 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi > 0 && h[hi] === 0) hi--;
    const lut = new Uint8Array(256);
    if (hi <= lo) {
      for (let v = 0; v < 256; v++) lut[v] = v;
      return lut;
    }
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    // Uint8Array stores clamp nothing, so clamp first; Math.trunc is Python's int().
    for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.max(0, Math.trunc(v * scale + offset)));
    return lut;
  });
  return applyLut(image, luts);
}

/** ImageOps.equalize: each channel through its cumulative histogram, in PIL's integer steps. */
export function equalize(image: Uint8Image): Uint8Image {
  const luts = histograms(image).map((h) => {
    const lut = new Uint8Array(256);
    let nonZero = 0;
    let total = 0;
    let last = 0;
    for (let v = 0; v < 256; v++) {
      if (h[v] > 0) {
        nonZero++;
        total += h[v];
        last = h[v];
      }
    }
    const step = Math.floor((total - last) / 255);
    if (nonZero <= 1 || step === 0) {
      for (let v = 0; v < 256; v++) lut[v] = v;
      return lut;
    }
    let n = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      // PIL's point() clips table entries to 0-255; the last bins can compute to more.
      lut[v] = Math.min(255, Math.floor(n / step));
      n += h[v];
    }
    return lut;
  });
  return applyLut(image, luts);
}

/**
 * PIL's Image.blend(degenerate, image, factor): degenerate + factor * (image - degenerate) in float32, truncated,
 * clamped when extrapolating (factor outside [0, 1]), as a table over (degenerate, image) byte pairs. Each step is
 * rounded to float32 as the C code's float arithmetic does (the double products and sums of these small integers
 * and a float32 are exact, so one fround per step is float32 arithmetic exactly).
 */
function blendTable(alpha: number): Uint8Array {
  let table = BLEND_TABLES.get(alpha);
  if (table) return table;
  table = new Uint8Array(65536);
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const t = Math.fround(a + Math.fround(alpha * (b - a)));
      table[a * 256 + b] = t <= 0 ? 0 : t >= 255 ? 255 : t;
    }
  }
  // The policy uses a dozen factors; the bound only guards callers that sweep many.
  if (BLEND_TABLES.size >= 64) BLEND_TABLES.clear();
  BLEND_TABLES.set(alpha, table);
  return table;
}

const BLEND_TABLES = new Map<number, Uint8Array>();

function blend(image: Uint8Image, degenerate: Uint8Array, factor: number): Uint8Image {
  const alpha = Math.fround(factor);
  // Factor 0 and 1 are exact copies in PIL too.
  if (alpha === 0) return withData(image, degenerate.slice());
  if (alpha === 1) return withData(image, image.data.slice());
  const table = blendTable(alpha);
  const src = image.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[(degenerate[i] << 8) | src[i]];
  return withData(image, out);
}

/** ImageEnhance.Color: blend with the image's luma (PIL's convert('L'): ITU-R 601 in 16-bit fixed point). */
export function color(image: Uint8Image, factor: number): Uint8Image {
  if (image.channels === 1) return withData(image, image.data.slice());
  const src = image.data;
  const grey = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += 3) {
    const l = (src[i] * 19595 + src[i + 1] * 38470 + src[i + 2] * 7471 + 0x8000) >>> 16;
    grey[i] = l;
    grey[i + 1] = l;
    grey[i + 2] = l;
  }
  return blend(image, grey, factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the mean luma, rounded (int(mean + 0.5)). */
export function contrast(image: Uint8Image, factor: number): Uint8Image {
  const src = image.data;
  let sum = 0;
  if (image.channels === 1) {
    for (let i = 0; i < src.length; i++) sum += src[i];
  } else {
    for (let i = 0; i < src.length; i += 3)
      sum += (src[i] * 19595 + src[i + 1] * 38470 + src[i + 2] * 7471 + 0x8000) >>> 16;
  }
  const pixels = image.width * image.height;
  const mean = Math.trunc(sum / pixels + 0.5);
  return blend(image, new Uint8Array(src.length).fill(mean), factor);
}

/**
 * ImageEnhance.Sharpness: blend with PIL's SMOOTH filter (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1 over 13, border pixels
 * kept, images under 3x3 kept whole), whose sums run in float32 in PIL's order with 0.5 added for rounding.
 */
export function sharpness(image: Uint8Image, factor: number): Uint8Image {
  const { width: w, height: h, channels: c } = image;
  const src = image.data;
  const smooth = src.slice();
  if (w >= 3 && h >= 3) {
    const f = Math.fround;
    const k1 = f(1 / 13);
    const k5 = f(5 / 13);
    const [t1, t5] = (SMOOTH_PRODUCTS ??= [
      Float64Array.from({ length: 256 }, (_, v) => f(v * k1)),
      Float64Array.from({ length: 256 }, (_, v) => f(v * k5)),
    ]);
    const stride = w * c;
    for (let y = 1; y < h - 1; y++) {
      for (let x = 1; x < w - 1; x++) {
        for (let k = 0; k < c; k++) {
          const i = y * stride + x * c + k;
          const below = i + stride;
          const above = i - stride;
          let ss = 0.5;
          ss = f(ss + f(f(t1[src[below - c]] + t1[src[below]]) + t1[src[below + c]]));
          ss = f(ss + f(f(t1[src[i - c]] + t5[src[i]]) + t1[src[i + c]]));
          ss = f(ss + f(f(t1[src[above - c]] + t1[src[above]]) + t1[src[above + c]]));
          smooth[i] = ss <= 0 ? 0 : ss >= 255 ? 255 : ss;
        }
      }
    }
  }
  return blend(image, smooth, factor);
}

/** Each byte times the SMOOTH kernel's float32 weights 1/13 and 5/13, rounded to float32. */
let SMOOTH_PRODUCTS: [Float64Array, Float64Array] | undefined;

/** Python's round(x, 15), which PIL applies to the rotation matrix's sines and cosines. */
function round15(x: number): number {
  return Number(x.toFixed(15));
}

/**
 * Image.rotate(degrees) (counter-clockwise, about the centre, same size, nearest neighbour) with uncovered pixels
 * grey, as the article's Rotate composites the rotated image on grey 128. PIL maps each output pixel centre back into
 * the source with a 16.16 fixed-point walk along the rows, reproduced here in the same integer steps.
 */
export function rotate(image: Uint8Image, degrees: number): Uint8Image {
  const angle = ((degrees % 360) + 360) % 360;
  const { width: w, height: h, channels: c } = image;
  // PIL's shortcuts: exact copies and transposes instead of the affine walk.
  if (angle === 0) return withData(image, image.data.slice());
  if (angle === 180 || ((angle === 90 || angle === 270) && w === h)) return transpose(image, angle as 90 | 180 | 270);
  const radians = -(angle * (Math.PI / 180));
  const a = round15(Math.cos(radians));
  const b = round15(Math.sin(radians));
  const d = round15(-Math.sin(radians));
  const e = round15(Math.cos(radians));
  const cx = w / 2;
  const cy = h / 2;
  const tx = a * -cx + b * -cy + 0 + cx;
  const ty = d * -cx + e * -cy + 0 + cy;
  const fix = (v: number): number => Math.floor(v * 65536 + 0.5);
  const out = new Uint8Array(image.data.length).fill(FILL);
  const src = image.data;
  const inRange = (x: number, y: number): boolean =>
    Math.abs(x * a + y * b + tx) < 32768 && Math.abs(x * d + y * e + ty) < 32768;
  if (!(inRange(0, 0) && inRange(w, h) && inRange(0, h) && inRange(w, 0))) {
    throw new RangeError(`rotate: a ${w}x${h} image is beyond PIL's fixed-point range (32768 pixels)`);
  }
  const a0 = fix(a);
  const a1 = fix(b);
  const a3 = fix(d);
  const a4 = fix(e);
  let rowX = fix(tx + a * 0.5 + b * 0.5);
  let rowY = fix(ty + d * 0.5 + e * 0.5);
  for (let y = 0, o = 0; y < h; y++) {
    let xx = rowX;
    let yy = rowY;
    for (let x = 0; x < w; x++, o += c, xx += a0, yy += a3) {
      const xin = xx >> 16;
      if (xin < 0 || xin >= w) continue;
      const yin = yy >> 16;
      if (yin < 0 || yin >= h) continue;
      const s = (yin * w + xin) * c;
      out[o] = src[s];
      if (c === 3) {
        out[o + 1] = src[s + 1];
        out[o + 2] = src[s + 2];
      }
    }
    rowX += a1;
    rowY += a4;
  }
  return withData(image, out);
}

/** A quarter or half turn counter-clockwise (90 and 270 only for square images, where the size does not change). */
function transpose(image: Uint8Image, angle: 90 | 180 | 270): Uint8Image {
  const { width: w, height: h, channels: c } = image;
  const src = image.data;
  const out = new Uint8Array(src.length);
  for (let y = 0, o = 0; y < h; y++) {
    for (let x = 0; x < w; x++, o += c) {
      // The source pixel that lands on (x, y).
      const [sx, sy] = angle === 180 ? [w - 1 - x, h - 1 - y] : angle === 90 ? [w - 1 - y, x] : [y, h - 1 - x];
      const s = (sy * w + sx) * c;
      for (let k = 0; k < c; k++) out[o + k] = src[s + k];
    }
  }
  return withData(image, out);
}

/**
 * Image.transform(AFFINE, (1, shear, 0, 0, 1, 0), BICUBIC, fillcolor=grey): output pixel (x, y) samples the source
 * at x + shear * (y + 0.5). The sample lands on a row centre, so PIL's 4x4 bicubic reduces exactly to its horizontal
 * cubic (a = -1, edge columns repeated); samples outside the image are grey.
 */
export function shearX(image: Uint8Image, shear: number): Uint8Image {
  const { width: w, height: h, channels: c } = image;
  const src = image.data;
  const out = new Uint8Array(src.length).fill(FILL);
  const clip = (x: number): number => (x < 0 ? 0 : x < w ? x : w - 1);
  for (let y = 0; y < h; y++) {
    const offset = shear * (y + 0.5);
    const row = y * w * c;
    for (let x = 0; x < w; x++) {
      const xin = x + 0.5 + offset;
      if (xin < 0 || xin >= w) continue;
      const at = xin - 0.5;
      const x0 = Math.floor(at);
      const dx = at - x0;
      const c0 = row + clip(x0 - 1) * c;
      const c1 = row + clip(x0) * c;
      const c2 = row + clip(x0 + 1) * c;
      const c3 = row + clip(x0 + 2) * c;
      const o = row + x * c;
      for (let k = 0; k < c; k++) {
        const v1 = src[c0 + k];
        const v2 = src[c1 + k];
        const v3 = src[c2 + k];
        const v4 = src[c3 + k];
        const p2 = -v1 + v3;
        const p3 = 2 * (v1 - v2) + v3 - v4;
        const p4 = -v1 + v2 - v3 + v4;
        const v = v2 + dx * (p2 + dx * (p3 + dx * p4));
        out[o + k] = v <= 0 ? 0 : v >= 255 ? 255 : v;
      }
    }
  }
  return withData(image, out);
}
