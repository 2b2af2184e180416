// A confusion matrix as a heatmap SVG: true classes down the side, predicted classes along the top (names
// slanted so long ones such as 'T-shirt/top' fit), the count in every cell, each row shaded by the fraction of
// its class (so a rare class's mistakes show as clearly as a common one's), recall at the end of each row and
// precision under each column.
import { Confusion } from './confusion';
import { escapeXml, px, textWidth } from './svg';

export interface ConfusionSvgOptions {
  title?: string;
  /** Side of a cell in px; by default 56 up to 17 classes, then smaller down to 18 (100 classes), so counts stay legible. */
  cellSize?: number;
}

const FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'";
const SLANT = 45; // degrees; the column labels' angle

export function confusionSvg(c: Confusion, options: ConfusionSvgOptions = {}): string {
  const k = c.classNames.length;
  const cell = options.cellSize ?? Math.max(18, Math.min(56, Math.floor(1000 / k)));
  const countFont = Math.max(8, Math.min(14, cell * 0.28));
  const labelFont = Math.max(9, Math.min(13, cell * 0.4));
  const title = options.title ?? `Confusion matrix (top-1 ${percent(c.top1)}, ${c.total} samples)`;

  const longest = Math.max(...c.classNames.map((n) => textWidth(n, labelFont)));
  const rowLabelWidth = longest + 14;
  // A label slanted by SLANT rises by its length times sin(SLANT).
  const columnLabelHeight = longest * Math.sin((SLANT * Math.PI) / 180) + 16;
  const left = 34 + rowLabelWidth; // room for the 'true class' caption and the names
  const top = 50 + columnLabelHeight + 22; // title, 'predicted class' caption and slanted names
  const grid = k * cell;
  const recallWidth = 70;
  const legendWidth = 90;
  // The last column's slanted label starts at its centre and reaches right by its length times cos(SLANT).
  const lastLabelReach = longest * Math.cos((SLANT * Math.PI) / 180) - cell / 2 + 10;
  const width = Math.ceil(left + grid + Math.max(recallWidth + legendWidth, lastLabelReach) + 20);
  const height = Math.ceil(top + grid + 46);

  const out: string[] = [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}' ${FONT}>`,
    `<rect width='${width}' height='${height}' fill='white'/>`,
    `<text x='${px(width / 2)}' y='26' font-size='17' font-weight='bold' text-anchor='middle'>${escapeXml(title)}</text>`,
    `<text x='${px(left + grid / 2)}' y='50' font-size='13' text-anchor='middle' fill='#444'>predicted class</text>`,
    `<text transform='translate(18 ${px(top + grid / 2)}) rotate(-90)' font-size='13' text-anchor='middle' fill='#444'>true class</text>`,
  ];

  // Column labels, slanted up and to the right from just above each column's centre.
  c.classNames.forEach((name, j) => {
    const x = left + j * cell + cell / 2;
    out.push(
      `<text class='column-label' transform='translate(${px(x)} ${px(top - 8)}) rotate(-${SLANT})' font-size='${px(labelFont)}'>${escapeXml(name)}</text>`,
    );
  });

  c.matrix.forEach((row, i) => {
    const y = top + i * cell;
    out.push(
      `<text class='row-label' x='${px(left - 8)}' y='${px(y + cell / 2 + labelFont * 0.35)}' font-size='${px(labelFont)}' text-anchor='end'>${escapeXml(c.classNames[i])}</text>`,
    );
    row.forEach((count, j) => {
      const share = c.support[i] > 0 ? count / c.support[i] : 0;
      const x = left + j * cell;
      out.push(
        `<rect class='cell' data-true='${i}' data-predicted='${j}' data-count='${count}' x='${px(x)}' y='${px(y)}' width='${cell}' height='${cell}' fill='${shade(share)}' stroke='white' stroke-width='1'/>`,
      );
      if (count > 0 || cell >= 28) {
        const ink = share > 0.5 ? 'white' : count === 0 ? '#bbb' : '#222';
        const text = fitCount(count, countFont, cell - 4);
        out.push(
          `<text x='${px(x + cell / 2)}' y='${px(y + cell / 2 + countFont * 0.35)}' font-size='${px(countFont)}' text-anchor='middle' fill='${ink}'>${text}</text>`,
        );
      }
    });
    out.push(
      `<text x='${px(left + grid + 8)}' y='${px(y + cell / 2 + countFont * 0.35)}' font-size='${px(countFont)}' fill='#444'>${percent(c.recall[i])}</text>`,
    );
  });
  out.push(
    `<text x='${px(left + grid + 8)}' y='${px(top - 8)}' font-size='11' fill='#444' font-weight='bold'>recall</text>`,
  );

  // Precision under each column.
  const precisionY = top + grid + 18;
  out.push(
    `<text x='${px(left - 8)}' y='${px(precisionY)}' font-size='11' fill='#444' font-weight='bold' text-anchor='end'>precision</text>`,
  );
  c.precision.forEach((p, j) => {
    const label = fitPercent(p, countFont, cell - 2);
    out.push(
      `<text x='${px(left + j * cell + cell / 2)}' y='${px(precisionY)}' font-size='${px(Math.min(countFont, 11))}' fill='#444' text-anchor='middle'>${label}</text>`,
    );
  });

  // Colour scale: share of the true class.
  const legendX = left + grid + recallWidth;
  const legendHeight = Math.min(grid, 200);
  out.push(
    `<defs><linearGradient id='scale' x1='0' y1='1' x2='0' y2='0'><stop offset='0' stop-color='${shade(0)}'/><stop offset='0.5' stop-color='${shade(0.5)}'/><stop offset='1' stop-color='${shade(1)}'/></linearGradient></defs>`,
  );
  out.push(
    `<rect x='${px(legendX)}' y='${px(top)}' width='14' height='${px(legendHeight)}' fill='url(#scale)' stroke='#999'/>`,
  );
  for (const [share, label] of [
    [1, '100%'],
    [0.5, '50%'],
    [0, '0%'],
  ] as const) {
    out.push(
      `<text x='${px(legendX + 20)}' y='${px(top + (1 - share) * legendHeight + 4)}' font-size='11' fill='#444'>${label}</text>`,
    );
  }
  out.push(
    `<text x='${px(legendX)}' y='${px(top + legendHeight + 16)}' font-size='10' fill='#666'>of true class</text>`,
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** White to dark blue, by the square root so that a handful of mistakes in a large class is still visible. */
function shade(share: number): string {
  const t = Math.sqrt(Math.min(1, Math.max(0, share)));
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const rgb = from.map((f, i) => Math.round(f + (to[i] - f) * t));
  return `rgb(${rgb.join(',')})`;
}

function percent(value: number): string {
  return Number.isNaN(value) ? '–' : `${(value * 100).toFixed(1)}%`;
}

// Counts and percentages shrink to fit a small cell rather than overflow into the next one.
function fitCount(count: number, fontSize: number, room: number): string {
  const text = String(count);
  if (textWidth(text, fontSize) <= room) return text;
  return count >= 1e6 ? `${(count / 1e6).toFixed(1)}M` : `${(count / 1e3).toFixed(count >= 1e4 ? 0 : 1)}k`;
}

function fitPercent(value: number, fontSize: number, room: number): string {
  const full = percent(value);
  return textWidth(full, fontSize) <= room || Number.isNaN(value) ? full : `${Math.round(value * 100)}`;
}
