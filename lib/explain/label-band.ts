// The band that names the top class on an explanation overlay: white text on a dark translucent strip across the top
// of the picture, so that it reads on any image and any heatmap colour. It is an SVG that sharp (librsvg) renders and
// composites; the label is a class name from a config or a checkpoint, so it is escaped for XML, and characters XML
// 1.0 cannot hold at all (most control characters) are replaced, since librsvg would refuse the whole document.

/** The five characters XML gives meaning to, as entities; the characters XML cannot contain, as U+FFFD. */
export function escapeXml(text: string): string {
  return (
    text
      .replace(
        /[&<>"']/g,
        (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
      )
      // eslint-disable-next-line no-control-regex -- matching control characters is the point: XML forbids them
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
  );
}

/** "label 97.3%": the probability as a percentage with one decimal. */
export function labelText(label: string, probability: number): string {
  return `${label} ${(probability * 100).toFixed(1)}%`;
}

// DejaVu Sans' advance widths average about 0.6 em over letters and digits; text is shrunk to fit by this estimate.
const EM_PER_CHARACTER = 0.62;

export interface LabelBand {
  /** The SVG document, width x height pixels. */
  svg: string;
  height: number;
  fontSize: number;
}

/** The band for a picture `width` x `pictureHeight`: a tenth of its shorter side high (16 to 72 pixels, never more
 *  than the picture), the text as large as the band allows and small enough to fit the width. */
export function labelBand(text: string, width: number, pictureHeight: number): LabelBand {
  const height = Math.min(pictureHeight, Math.max(16, Math.min(72, Math.round(Math.min(width, pictureHeight) / 10))));
  const padding = Math.max(2, Math.round(height * 0.25));
  const fitting = (width - 2 * padding) / (Math.max(1, [...text].length) * EM_PER_CHARACTER);
  const fontSize = Math.max(6, Math.floor(Math.min(height * 0.66, fitting)));
  // The baseline sits so that capitals and digits (about 0.73 em high) are centred in the band.
  const baseline = Math.round(height / 2 + fontSize * 0.36);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="${width}" height="${height}" fill="#000" fill-opacity="0.65"/>` +
    `<text x="${padding}" y="${baseline}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="${fontSize}" ` +
    `fill="#fff">${escapeXml(text)}</text></svg>`;
  return { svg, height, fontSize };
}
