// Explanation pictures (lib/explain/) and `vitorch explain` (lib/cli/explain.ts).
//
// Oracles: the rollout and probabilities `vitorch explain` writes are compared with PyTorch's
// (tools/explain_reference.py: the reference model, PIL's preprocessing, tools/attention_reference.py's rollout), for
// the embedded model's images; the mapping of the grid back onto the image with hand-worked geometry; the picture's
// pixels with the blend of the image and the colour map's ends, computed here from viridis' published end points.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import {
  defaultModelDir,
  defaultModelImages,
  explanationLayout,
  inputRegion,
  renderExplanation,
  VIRIDIS,
} from '../lib';
import { colourTable } from '../lib/explain/colormap';
import { escapeXml, labelBand } from '../lib/explain/label-band';
import type { ExplanationRecord } from '../lib/cli/explain';
import { DataError } from '../lib/data/errors';
import { expectRejects } from './expect-error';
import { python, tool, TOOLS } from './python';

const CLI = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'vitorch.js');
const vitorch = (args: string[]) => spawnSync(process.execPath, [CLI, 'explain', ...args], { encoding: 'utf8' });

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-explain-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the colour map', () => {
  test("viridis' ends are matplotlib's, and its lightness rises at every step", () => {
    expect(VIRIDIS[0]).toEqual([68, 1, 84]);
    expect(VIRIDIS[VIRIDIS.length - 1]).toEqual([253, 231, 37]);
    const table = colourTable();
    expect(Array.from(table.subarray(0, 3))).toEqual([68, 1, 84]);
    expect(Array.from(table.subarray(255 * 3))).toEqual([253, 231, 37]);
    // Relative luminance of sRGB (WCAG's formula): the property viridis was designed for.
    const linear = (v: number) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
    const luminance = VIRIDIS.map(([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b));
    luminance.slice(1).forEach((l, i) => expect(l).toBeGreaterThan(luminance[i]));
  });
});

describe('the label band', () => {
  test('escapes the label for XML and replaces what XML cannot hold', () => {
    expect(escapeXml(`a<b>&"c'\u0001`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;\uFFFD');
    const band = labelBand('T-shirt/<top> 90.8%', 224, 224);
    expect(band.svg).toContain('>T-shirt/&lt;top&gt; 90.8%</text>');
    expect(band.height).toBe(22);
  });

  test('shrinks the text of a long label to fit the width', () => {
    const short = labelBand('Bag 90.4%', 224, 224);
    const long = labelBand(`${'x'.repeat(30)} 90.4%`, 224, 224);
    expect(long.fontSize).toBeLessThan(short.fontSize);
    expect(long.fontSize * 36 * 0.62).toBeLessThanOrEqual(224);
  });
});

describe('where the grid lies in the image', () => {
  test('centre crop: the middle of the image, the shorter side whole', () => {
    // 60 x 40 to 28: resized to 42 x 28, crop left round(14 / 2) = 7, i.e. 7 * 60 / 42 = 10 image pixels.
    expect(inputRegion(60, 40, { size: [28, 28], resize: 'center-crop' })).toEqual({
      left: 10,
      top: 0,
      width: 40,
      height: 40,
    });
    // Already 28 high: not resized, crop left 14.
    expect(inputRegion(56, 28, { size: [28, 28], resize: 'center-crop' })).toEqual({
      left: 14,
      top: 0,
      width: 28,
      height: 28,
    });
  });

  test('letterbox: the whole image, the grid reaching over the grey borders', () => {
    // 56 x 28 to 28: halved to 28 x 14, pasted 7 rows down; the 28-row input is 56 image rows from row -14.
    expect(inputRegion(56, 28, { size: [28, 28], resize: 'letterbox' })).toEqual({
      left: 0,
      top: -14,
      width: 56,
      height: 56,
    });
  });

  test('small images are enlarged by a whole factor to minSide', () => {
    const layout = explanationLayout(28, 28, { size: [28, 28], resize: 'center-crop' });
    expect(layout).toEqual({ width: 224, height: 224, scale: 8, region: { left: 0, top: 0, width: 224, height: 224 } });
    expect(explanationLayout(28, 28, { size: [28, 28], resize: 'center-crop' }, 0).scale).toBe(1);
  });
});

describe('renderExplanation', () => {
  const GREY = 128;
  // 448 x 224, uniform grey: any colour in the picture is the overlay's.
  const imageBytes = () =>
    sharp({ create: { width: 448, height: 224, channels: 3, background: { r: GREY, g: GREY, b: GREY } } })
      .png()
      .toBuffer();
  const blend = (colour: readonly number[], alpha = 0.5) => colour.map((c) => (1 - alpha) * GREY + alpha * c);
  const grid7 = (hot: (row: number, col: number) => boolean) =>
    Float32Array.from({ length: 49 }, (_, i) => (hot(Math.floor(i / 7), i % 7) ? 1 : 0));

  async function pixels(png: Buffer) {
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) =>
      Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    return { info, at };
  }

  /** The row of column x where the picture is most yellow (R + G highest): the hottest row. */
  function hottestRow(at: (x: number, y: number) => number[], x: number, height: number): number {
    let best = 0;
    for (let y = 1; y < height; y++) if (at(x, y)[0] + at(x, y)[1] > at(x, best)[0] + at(x, best)[1]) best = y;
    return best;
  }

  test('centre crop: the heat over the cropped middle, its colour the map blended at alpha, the rest dimmed', async () => {
    const png = await renderExplanation({
      image: await imageBytes(),
      rollout: grid7((_, col) => col === 0),
      grid: [7, 7],
      preprocess: { size: [28, 28], resize: 'center-crop' },
      label: 'Bag',
      probability: 0.9,
    });
    const { info, at } = await pixels(png);
    expect([info.width, info.height, info.channels]).toEqual([448, 224, 3]);
    // The crop is image columns 112 to 336; patch column 0 (input x 0 to 4) is image x 112 to 144, centred on 128.
    const hot = blend(VIRIDIS[VIRIDIS.length - 1]);
    const cold = blend(VIRIDIS[0]);
    at(128, 150).forEach((v, c) => expect(Math.abs(v - hot[c])).toBeLessThanOrEqual(3));
    at(300, 150).forEach((v, c) => expect(Math.abs(v - cold[c])).toBeLessThanOrEqual(1));
    // Outside the crop: the image darkened, no colour.
    for (const x of [50, 400]) at(x, 150).forEach((v) => expect(Math.abs(v - GREY * 0.4)).toBeLessThanOrEqual(1));
    // alpha is the colour's weight.
    const faint = await pixels(
      await renderExplanation({
        image: await imageBytes(),
        rollout: grid7(() => false),
        grid: [7, 7],
        preprocess: { size: [28, 28], resize: 'center-crop' },
        label: 'Bag',
        probability: 0.9,
        alpha: 0.2,
      }),
    );
    const cold02 = blend(VIRIDIS[0], 0.2);
    faint.at(300, 150).forEach((v, c) => expect(Math.abs(v - cold02[c])).toBeLessThanOrEqual(1));
  });

  test('letterbox and centre crop put the same patch row at different heights of the image', async () => {
    const draw = async (resize: 'center-crop' | 'letterbox') =>
      pixels(
        await renderExplanation({
          image: await imageBytes(),
          rollout: grid7((row) => row === 4),
          grid: [7, 7],
          preprocess: { size: [28, 28], resize },
          label: 'Bag',
          probability: 0.9,
        }),
      );
    // Patch row 4 is centred on input row 18. Centre crop: 224 rows scaled to 28, row 18 * 8 = 144. Letterbox: the
    // image is 14 input rows from row 7, each 16 image rows: (18 - 7) * 16 = 176.
    const crop = await draw('center-crop');
    const box = await draw('letterbox');
    expect(Math.abs(hottestRow(crop.at, 224, 224) - 144)).toBeLessThanOrEqual(2);
    expect(Math.abs(hottestRow(box.at, 224, 224) - 176)).toBeLessThanOrEqual(2);
    // A letterbox covers the whole image: nothing is dimmed.
    const cold = blend(VIRIDIS[0]);
    box.at(20, 60).forEach((v, c) => expect(Math.abs(v - cold[c])).toBeLessThanOrEqual(1));
  });

  test('the label is drawn in the dark band at the top, nowhere else', async () => {
    const draw = async (label: string) =>
      pixels(
        await renderExplanation({
          image: await imageBytes(),
          rollout: grid7(() => false),
          grid: [7, 7],
          preprocess: { size: [28, 28], resize: 'letterbox' },
          label,
          probability: 0.5,
        }),
      );
    const named = await draw('Ankle <boot> & "co"');
    const blank = await draw('');
    const band = labelBand('x', 448, 224).height;
    let differing = 0;
    for (let y = 0; y < 224; y++) {
      for (let x = 0; x < 448; x++) {
        const differs = named.at(x, y).some((v, c) => v !== blank.at(x, y)[c]);
        if (differs) {
          expect(y).toBeLessThan(band);
          differing++;
        }
      }
    }
    expect(differing).toBeGreaterThan(100);
    // The band darkens what is under it, so white text stands out on any picture.
    const under = blend(VIRIDIS[0]);
    blank.at(440, 2).forEach((v, c) => expect(v).toBeLessThan(under[c] * 0.5));
  });

  test('bad arguments are named; an undecodable image is a DataError naming it', async () => {
    const base = {
      image: await imageBytes(),
      rollout: new Float32Array(49),
      grid: [7, 7] as [number, number],
      preprocess: { size: [28, 28] as [number, number], resize: 'center-crop' as const },
      label: 'Bag',
      probability: 0.5,
    };
    await expect(renderExplanation({ ...base, rollout: new Float32Array(48) })).rejects.toThrow(
      new RangeError('expected 49 values (gridH * gridW) for rollout, received a Float32Array of 48 elements'),
    );
    await expect(renderExplanation({ ...base, alpha: 2 })).rejects.toThrow(
      new RangeError('expected a number in [0, 1] for alpha, received number 2'),
    );
    await expect(
      renderExplanation({ ...base, preprocess: { size: [28, 28], resize: 'stretch' as 'letterbox' } }),
    ).rejects.toThrow(
      new RangeError("expected 'center-crop' or 'letterbox' for preprocess.resize, received the string 'stretch'"),
    );
    await expectRejects(
      renderExplanation({ ...base, image: Buffer.from('not an image'), name: 'x.png' }),
      DataError,
      'x.png: cannot draw the explanation: Input buffer contains unsupported image format',
      { file: 'x.png' },
    );
  });
});

interface Reference {
  image: string;
  probabilities: number[];
  rollout: number[][];
  threshold_gap: number | null;
}

/** PyTorch's probabilities and rollouts for the embedded model's images (tools/explain_reference.py). */
function reference(images: string[], headFusion: string, discardRatio: number): Reference[] {
  const dir = defaultModelDir();
  const run = spawnSync(
    python(),
    [
      tool('explain_reference.py'),
      '--config',
      path.join(dir, 'config.json'),
      '--weights',
      path.join(dir, 'weights.pth'),
      '--head-fusion',
      headFusion,
      '--discard-ratio',
      String(discardRatio),
      ...images,
    ],
    { encoding: 'utf8', cwd: TOOLS, maxBuffer: 1 << 26 },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as Reference[];
}

const readRecord = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as ExplanationRecord;

// float32 rollouts of the same input agree to 9e-7 (test/attention.test.ts); PyTorch's preprocessing of the same
// PNG (PIL, numpy) gives the same floats.
const TOLERANCE = 1e-5;
// The discard step swaps entries of a row closer than the maps' error (3.6e-7 measured): compared only where the
// smallest gap over the rows between the discarded and kept sides (threshold_gap) exceeds twice 1e-6.
const SAFE_GAP = 2e-6;

describe('vitorch explain', () => {
  const images = defaultModelImages().map((i) => i.file);
  const stem = (out: string, image: string) => path.join(out, `${path.parse(image).name}.explain`);

  test.each([
    ['mean', 0.9],
    ['max', 0],
  ] as const)(
    'the embedded model, --head-fusion %s --discard-ratio %s: PyTorch rollouts and probabilities',
    (headFusion, discardRatio) => {
      const out = path.join(tmp, `embedded-${headFusion}`);
      const run = vitorch([
        '--out',
        out,
        '--head-fusion',
        headFusion,
        '--discard-ratio',
        String(discardRatio),
        '--top',
        '3',
        ...images,
      ]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toHaveLength(images.length);
      const expected = reference(images, headFusion, discardRatio);
      let compared = 0;
      images.forEach((image, i) => {
        expect(lines[i]).toMatch(new RegExp(`^${image} -> ${stem(out, image)}\\.png  \\S.* \\d+\\.\\d\\d%$`));
        const record = readRecord(`${stem(out, image)}.json`);
        expect(record).toMatchObject({
          image,
          picture: `${stem(out, image)}.png`,
          input: { size: [28, 28], resize: 'center-crop' },
          gridH: 7,
          gridW: 7,
          headFusion,
          discardRatio,
          imageSize: { width: 28, height: 28 },
          region: { left: 0, top: 0, width: 28, height: 28 },
          pictureSize: { width: 224, height: 224 },
          alpha: 0.5,
          colormap: 'viridis',
        });
        expect(record.top).toHaveLength(3);
        for (const t of record.top)
          expect(Math.abs(t.probability - expected[i].probabilities[t.index])).toBeLessThan(TOLERANCE);
        const gap = expected[i].threshold_gap;
        if (gap === null || gap > SAFE_GAP) {
          record.rollout.forEach((row, r) =>
            row.forEach((v, c) => expect(Math.abs(v - expected[i].rollout[r][c])).toBeLessThan(TOLERANCE)),
          );
          compared++;
        }
      });
      expect(compared).toBeGreaterThanOrEqual(images.length - 2);
    },
  );

  test('the picture has the image enlarged to 224, and its labelled class is the top one', async () => {
    const out = path.join(tmp, 'embedded-mean');
    const image = images[0];
    const record = readRecord(`${stem(out, image)}.json`);
    const meta = await sharp(`${stem(out, image)}.png`).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 224, 224]);
    expect(record.top[0].label).toBe(defaultModelImages()[0].label);
  });

  test('--weights with --config, and --weights alone (a model folder through loadPretrained), explain alike', () => {
    const dir = defaultModelDir();
    const a = path.join(tmp, 'with-config');
    const b = path.join(tmp, 'folder');
    const image = images[1];
    const withConfig = vitorch([
      '--weights',
      path.join(dir, 'weights.pth'),
      '--config',
      path.join(dir, 'config.json'),
      '--out',
      a,
      image,
    ]);
    const folder = vitorch(['--weights', dir, '--out', b, image]);
    expect([withConfig.status, folder.status]).toEqual([0, 0]);
    const ra = readRecord(`${stem(a, image)}.json`);
    const rb = readRecord(`${stem(b, image)}.json`);
    expect(rb.rollout).toEqual(ra.rollout);
    expect(rb.top).toEqual(ra.top);
  });

  test('a missing or undecodable image is named, exit 1, and the others are still written', () => {
    const out = path.join(tmp, 'failures');
    const corrupt = path.join(tmp, 'corrupt.png');
    fs.writeFileSync(corrupt, 'not a png');
    const missing = path.join(tmp, 'missing.png');
    const run = vitorch(['--out', out, missing, images[2], corrupt, images[3]]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`vitorch explain: ${missing}: no such image file`);
    expect(run.stderr).toContain(`vitorch explain: ${corrupt}: cannot decode image:`);
    expect(run.stdout.trim().split('\n')).toHaveLength(2);
    for (const image of [images[2], images[3]]) {
      expect(fs.existsSync(`${stem(out, image)}.png`)).toBe(true);
      expect(fs.existsSync(`${stem(out, image)}.json`)).toBe(true);
    }
    expect(fs.existsSync(`${stem(out, corrupt)}.png`)).toBe(false);
  });

  test.each([
    [['--discard-ratio', '1', 'x.png'], "expected a number in [0, 1) for --discard-ratio, received '1'"],
    [['--head-fusion', 'avg', 'x.png'], "expected one of mean, max, min for --head-fusion, received 'avg'"],
    [['--alpha', '-0.1', 'x.png'], '--alpha needs a value'],
    [['--alpha=1.5', 'x.png'], "expected a number in [0, 1] for --alpha, received '1.5'"],
    [['--top', '11', 'x.png'], "expected an integer in [1, 10] for --top (the model has 10 classes), received '11'"],
    [['--config', 'c.json', 'x.png'], '--config needs --weights'],
    [['--colour', 'x.png'], 'unknown option --colour'],
    [[], 'no images given'],
    [['a/x.png', 'b/x.png'], 'a/x.png and b/x.png would both be written as x.explain.png'],
  ])('usage error %j: exit 2 with the message and the usage line', (args, message) => {
    const run = vitorch(['--out', tmp, ...args]);
    expect(run.status).toBe(2);
    const [first, usage] = run.stderr.trim().split('\n');
    expect(first.startsWith('vitorch explain: ')).toBe(true);
    expect(first.replace(tmp + path.sep, '')).toContain(message);
    expect(usage).toMatch(/^usage: vitorch explain /);
  });
});
