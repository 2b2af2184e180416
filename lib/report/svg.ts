// What the report SVGs share: XML escaping, "nice" axis ticks and their labels, and a text-width estimate for
// laying out labels without a font engine. Hand-written SVG keeps the reports free of dependencies and readable
// in any browser, image viewer or GitHub page.

/** Escapes text for an XML text node or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

/** A number for an SVG attribute: two decimals are below a pixel's hundredth, and keep files small. */
export function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * Rough width of a string in a sans-serif font: the average advance is about 0.55 em, wider for capitals and
 * 'm'/'w', narrower for 'i', 'l', punctuation. Good to a few percent, which is all layout needs.
 */
export function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const c of text) {
    if ("il.,:;|!'`".includes(c)) em += 0.28;
    else if ('fjrt()[]/- '.includes(c)) em += 0.36;
    else if ('mwMW@'.includes(c)) em += 0.85;
    else if (c >= 'A' && c <= 'Z') em += 0.68;
    else em += 0.56;
  }
  return em * fontSize;
}

export interface Axis {
  min: number;
  max: number;
  ticks: number[];
  step: number;
}

/**
 * An axis covering [low, high] with about `count` ticks at 1, 2 or 5 times a power of ten, extended outwards to
 * whole ticks. A zero-width range is widened so a constant series still gets an axis around it.
 */
export function niceAxis(low: number, high: number, count = 5, minStep = 0): Axis {
  if (!(high > low)) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  // The slack keeps 0.01 / 5 (fraction 2.0000000000000004) a step of 2, not 5.
  const slack = 1 + 1e-9;
  let step = (fraction <= slack ? 1 : fraction <= 2 * slack ? 2 : fraction <= 5 * slack ? 5 : 10) * power;
  step = Math.max(step, minStep);
  const min = Math.floor(low / step + 1e-9) * step;
  const max = Math.ceil(high / step - 1e-9) * step;
  const ticks: number[] = [];
  // Ticks computed from an integer index, not by repeated addition, so 0.1 + 0.2 never shows as 0.30000000000000004.
  for (let i = 0; min + i * step <= max + step * 1e-9; i++) ticks.push(roundTo(min + i * step, step));
  return { min, max, ticks, step };
}

/**
 * Labels for an axis's ticks, all in one notation: 2e-3 style when the step is below 0.01 or the values reach
 * 1e5 (learning rates, huge counts), otherwise fixed with as many decimals as the step needs.
 */
export function tickLabels(axis: Axis): string[] {
  const { step, ticks } = axis;
  const largest = Math.max(...ticks.map(Math.abs));
  const stepPower = Math.floor(Math.log10(step) + 1e-9);
  if (step < 1e-2 || largest >= 1e5) {
    return ticks.map((t) => {
      if (t === 0) return '0';
      const digits = Math.max(0, Math.floor(Math.log10(Math.abs(t)) + 1e-9) - stepPower);
      return t
        .toExponential(Math.min(digits, 3))
        .replace(/\.?0+e/, 'e')
        .replace('e+', 'e');
    });
  }
  const decimals = Math.max(0, -stepPower);
  return ticks.map((t) => t.toFixed(decimals));
}

function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  return Number(value.toFixed(Math.min(decimals, 20)));
}
