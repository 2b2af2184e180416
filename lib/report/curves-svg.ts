// The training curves as one self-contained SVG image: three panels sharing the epoch axis (loss and validation
// loss; validation top-1 and top-5 accuracy; learning rate), each with its own axes, ticks and legend, under a
// title. Written by hand (no plotting library) so that a report is a string any viewer can open.
import { checkEpochRecords, EpochRecord } from './curves';
import { Axis, escapeXml, niceAxis, px, textWidth, tickLabels } from './svg';

export interface CurvesSvgOptions {
  title?: string;
  /** Width of the whole image in px (default 900). */
  width?: number;
  /** Height of each of the three panels in px (default 220). */
  panelHeight?: number;
}

interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  values: (number | undefined)[];
}

interface Panel {
  title: string;
  series: Series[];
  /** The axis floor: losses and learning rates start at 0 so that their relative size reads right. */
  fromZero: boolean;
  clamp?: [number, number];
}

const FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'";
const MARGIN = { left: 76, right: 150, top: 56, gap: 58, bottom: 52 };
// Colour-blind-safe pairs (Okabe-Ito); dashes tell the validation series apart in print, too.
const COLORS = { train: '#0072B2', val: '#E69F00', top1: '#009E73', top5: '#56B4E9', lr: '#CC79A7' };

export function curvesSvg(records: readonly EpochRecord[], options: CurvesSvgOptions = {}): string {
  checkEpochRecords(records, 'curvesSvg records');
  const width = options.width ?? 900;
  const panelHeight = options.panelHeight ?? 220;
  const title = options.title ?? 'Training curves';
  const percent = (v: number | undefined): number | undefined => (v === undefined ? undefined : v * 100);

  const panels: Panel[] = [
    {
      title: 'Loss',
      fromZero: true,
      series: [
        { name: 'train loss', color: COLORS.train, values: records.map((r) => r.trainLoss) },
        { name: 'val loss', color: COLORS.val, dashed: true, values: records.map((r) => r.valLoss) },
      ],
    },
    {
      title: 'Validation accuracy (%)',
      fromZero: false,
      clamp: [0, 100],
      series: [
        { name: 'top-1', color: COLORS.top1, values: records.map((r) => percent(r.top1)) },
        { name: 'top-5', color: COLORS.top5, dashed: true, values: records.map((r) => percent(r.top5)) },
      ],
    },
    {
      title: 'Learning rate',
      fromZero: true,
      series: [{ name: 'lr', color: COLORS.lr, values: records.map((r) => r.lr) }],
    },
  ];

  const epochs = records.map((r) => r.epoch);
  const xAxis = epochs.length > 0 ? niceAxis(Math.min(...epochs), Math.max(...epochs), 8, 1) : niceAxis(0, 1, 8, 1);
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const height = MARGIN.top + panels.length * panelHeight + (panels.length - 1) * MARGIN.gap + MARGIN.bottom;

  const parts: string[] = [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}' ${FONT}>`,
    `<rect width='${width}' height='${height}' fill='white'/>`,
    `<text x='${px(width / 2)}' y='28' font-size='18' font-weight='bold' text-anchor='middle'>${escapeXml(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const top = MARGIN.top + i * (panelHeight + MARGIN.gap);
    parts.push(drawPanel(panel, epochs, xAxis, { left: MARGIN.left, top, width: plotWidth, height: panelHeight }));
  });
  parts.push(
    `<text x='${px(MARGIN.left + plotWidth / 2)}' y='${height - 12}' font-size='13' text-anchor='middle'>epoch</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function drawPanel(panel: Panel, epochs: number[], xAxis: Axis, box: Box): string {
  const present = panel.series.filter((s) => s.values.some(isFiniteNumber));
  const values = present.flatMap((s) => s.values.filter(isFiniteNumber));
  let low = values.length ? Math.min(...values) : 0;
  let high = values.length ? Math.max(...values) : 1;
  if (panel.fromZero) low = Math.min(0, low);
  // A little headroom, so a peak that lands on a round number is not drawn on the frame.
  let yAxis = niceAxis(low, high + (high - low) * 0.03, 5);
  if (panel.clamp) {
    [low, high] = [Math.max(yAxis.min, panel.clamp[0]), Math.min(yAxis.max, panel.clamp[1])];
    yAxis = { ...yAxis, min: low, max: high, ticks: yAxis.ticks.filter((t) => t >= low && t <= high) };
  }
  const x = (e: number): number => box.left + ((e - xAxis.min) / (xAxis.max - xAxis.min)) * box.width;
  const y = (v: number): number => box.top + box.height - ((v - yAxis.min) / (yAxis.max - yAxis.min)) * box.height;
  const bottom = box.top + box.height;

  const out: string[] = [`<g class='panel' data-title='${escapeXml(panel.title)}'>`];
  out.push(
    `<text x='${box.left}' y='${px(box.top - 10)}' font-size='14' font-weight='bold'>${escapeXml(panel.title)}</text>`,
  );
  // Grid and y ticks.
  // An empty panel gets no y ticks: numbers on an axis with no data would only mislead.
  const yLabels = tickLabels(yAxis);
  (present.length > 0 ? yAxis.ticks : []).forEach((t, j) => {
    out.push(
      `<line x1='${box.left}' x2='${px(box.left + box.width)}' y1='${px(y(t))}' y2='${px(y(t))}' stroke='#e3e3e3'/>`,
    );
    out.push(`<text x='${box.left - 7}' y='${px(y(t) + 4)}' font-size='11' text-anchor='end'>${yLabels[j]}</text>`);
  });
  const xLabels = tickLabels(xAxis);
  xAxis.ticks.forEach((t, j) => {
    out.push(`<line x1='${px(x(t))}' x2='${px(x(t))}' y1='${bottom}' y2='${bottom + 5}' stroke='#333'/>`);
    out.push(`<text x='${px(x(t))}' y='${bottom + 18}' font-size='11' text-anchor='middle'>${xLabels[j]}</text>`);
  });
  out.push(
    `<rect x='${box.left}' y='${box.top}' width='${px(box.width)}' height='${box.height}' fill='none' stroke='#333'/>`,
  );

  // Series: a value left out (validation every few epochs) is bridged, a non-finite one (a diverged loss) breaks
  // the line; dots mark the measured points when there are few enough to tell apart.
  for (const s of present) {
    let d = '';
    let pen = 'M';
    const dots: string[] = [];
    s.values.forEach((v, j) => {
      if (v === undefined) return;
      if (!Number.isFinite(v)) {
        pen = 'M';
        return;
      }
      d += `${pen}${px(x(epochs[j]))},${px(y(v))}`;
      pen = 'L';
      dots.push(`<circle cx='${px(x(epochs[j]))}' cy='${px(y(v))}' r='2.5' fill='${s.color}'/>`);
    });
    const dash = s.dashed ? " stroke-dasharray='7 4'" : '';
    out.push(
      `<path class='series' data-series='${escapeXml(s.name)}' d='${d}' fill='none' stroke='${s.color}' stroke-width='2'${dash}/>`,
    );
    if (dots.length <= 40) out.push(...dots);
  }
  if (present.length === 0) {
    out.push(
      `<text x='${px(box.left + box.width / 2)}' y='${px(box.top + box.height / 2)}' font-size='13' fill='#777' text-anchor='middle'>not measured</text>`,
    );
  }

  // Legend to the right of the plot, where it can never hide a line.
  const legendX = box.left + box.width + 16;
  present.forEach((s, j) => {
    const ly = box.top + 14 + j * 22;
    const dash = s.dashed ? " stroke-dasharray='7 4'" : '';
    out.push(
      `<line x1='${legendX}' x2='${legendX + 28}' y1='${ly}' y2='${ly}' stroke='${s.color}' stroke-width='2.5'${dash}/>`,
    );
    const label = fitText(s.name, 12, 150 - 16 - 36 - 4);
    out.push(`<text x='${legendX + 36}' y='${ly + 4}' font-size='12'>${escapeXml(label)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

function isFiniteNumber(v: number | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function fitText(text: string, fontSize: number, maxWidth: number): string {
  if (textWidth(text, fontSize) <= maxWidth) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(cut + '…', fontSize) > maxWidth) cut = cut.slice(0, -1);
  return cut + '…';
}
