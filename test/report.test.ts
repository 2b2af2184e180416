// The training reports: the confusion matrix and its precision/recall against numpy, the SVGs parsed by Python's
// XML parser, the CSVs read back by our parser and by Python's csv module, and the CLI progress reporter's
// one-line-per-epoch format for logs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { confusion, confusionCsv, perClassCsv } from '../lib/report/confusion';
import { confusionSvg } from '../lib/report/confusion-svg';
import { curvesSvg } from '../lib/report/curves-svg';
import { curvesFromCsv, curvesToCsv, EpochRecord, writeCurvesCsv } from '../lib/report/curves';
import { formatCsv, parseCsv } from '../lib/report/csv';
import { createProgressReporter, formatEpochLine } from '../lib/cli/progress';
import { expectThrows } from './expect-error';
import { CLASSES } from './train-cli-fixtures';

const root = path.join(__dirname, '..');

// The Python side: numpy for the matrix, xml.etree for the SVGs, csv for the CSV files. One run for the file.
const PYTHON = String.raw`
import csv, io, json, math, sys
import numpy as np
import xml.etree.ElementTree as ET
req = json.load(sys.stdin)
out = {"confusion": [], "svg": [], "csv": []}
for c in req["confusion"]:
    k = c["k"]
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.array(c["labels"], dtype=np.int64), np.array(c["predictions"], dtype=np.int64)), 1)
    diag = np.diag(m).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = diag / m.sum(axis=0)
        recall = diag / m.sum(axis=1)
    nan = lambda a: [None if math.isnan(v) else float(v) for v in a]
    out["confusion"].append({"matrix": m.tolist(), "precision": nan(precision), "recall": nan(recall),
                             "top1": float(diag.sum() / m.sum())})
ns = "{http://www.w3.org/2000/svg}"
for text in req["svg"]:
    root = ET.fromstring(text)
    out["svg"].append({
        "tag": root.tag, "width": root.get("width"),
        "series": [p.get("data-series") for p in root.iter(ns + "path") if p.get("class") == "series"],
        "paths": {p.get("data-series"): p.get("d") for p in root.iter(ns + "path") if p.get("class") == "series"},
        "cells": [[int(r.get("data-true")), int(r.get("data-predicted")), int(r.get("data-count"))]
                  for r in root.iter(ns + "rect") if r.get("class") == "cell"],
        "texts": ["".join(t.itertext()) for t in root.iter(ns + "text")],
    })
for text in req["csv"]:
    out["csv"].append(list(csv.reader(io.StringIO(text, newline=""))))
json.dump(out, sys.stdout)
`;

interface PythonAnswer {
  confusion: { matrix: number[][]; precision: (number | null)[]; recall: (number | null)[]; top1: number }[];
  svg: {
    tag: string;
    width: string;
    series: string[];
    paths: Record<string, string>;
    cells: number[][];
    texts: string[];
  }[];
  csv: string[][][];
}

function python(request: { confusion: unknown[]; svg: string[]; csv: string[] }): PythonAnswer {
  const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'python.js'), '-c', PYTHON], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as PythonAnswer;
}

// A seeded generator, so a failure is reproducible.
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

const FASHION = CLASSES;

const random = lcg(7);
const confusionCases = [
  // 10 classes, mostly right.
  (() => {
    const labels = Array.from({ length: 5000 }, () => Math.floor(random() * 10));
    return { k: 10, labels, predictions: labels.map((l) => (random() < 0.8 ? l : Math.floor(random() * 10))) };
  })(),
  // 12 classes: class 11 has no samples and class 3 is never predicted, so some ratios are 0 / 0.
  (() => {
    const labels = Array.from({ length: 700 }, () => Math.floor(random() * 11));
    const predictions = labels.map(() => {
      let p;
      do p = Math.floor(random() * 12);
      while (p === 3);
      return p;
    });
    return { k: 12, labels, predictions };
  })(),
  { k: 1, labels: [0, 0, 0], predictions: [0, 0, 0] },
];

const records: EpochRecord[] = Array.from({ length: 30 }, (_, i) => ({
  epoch: i + 1,
  trainLoss: 2.3 * Math.exp(-i / 8) + 0.1,
  valLoss: i % 3 === 2 ? 2 * Math.exp(-i / 9) + 0.3 : undefined,
  top1: i % 3 === 2 ? 0.9 - 0.8 * Math.exp(-i / 6) : undefined,
  top5: i % 3 === 2 ? 0.99 - 0.5 * Math.exp(-i / 4) : undefined,
  lr: (1e-3 * (1 + Math.cos((Math.PI * i) / 30))) / 2,
  imagesPerSecond: 400 + i,
  seconds: 61.5,
}));
records[4].trainLoss = NaN; // a diverged step: the line must break there, not vanish

const fashionConfusion = confusion(confusionCases[0].labels, confusionCases[0].predictions, FASHION);
const nastyNames = ['a & b', '<script>', 'quote "q"', "it's"];
const nastyConfusion = confusion([0, 1, 2, 3, 3], [0, 1, 2, 3, 0], nastyNames);
const svgs = [
  curvesSvg(records, { title: 'ViT <B/16> & "friends"' }),
  confusionSvg(fashionConfusion),
  confusionSvg(nastyConfusion, { title: 'names & <escapes>' }),
  curvesSvg([{ epoch: 1, trainLoss: 2, lr: 1e-3 }]),
];
const trickyRows = [
  ['plain', 'with,comma', 'with "quotes"', 'multi\nline', '', 'crlf\r\ninside'],
  ['1', '2.5', '', '', '', ' spaced '],
];
const csvs = [
  curvesToCsv(records),
  confusionCsv(fashionConfusion),
  perClassCsv(confusion(confusionCases[1].labels, confusionCases[1].predictions, 12)),
  formatCsv(trickyRows),
];

let answer: PythonAnswer;
beforeAll(() => {
  answer = python({ confusion: confusionCases, svg: svgs, csv: csvs });
});

describe('confusion', () => {
  test('matrix, precision, recall and top-1 equal numpy on random labels, NaN where numpy has 0 / 0', () => {
    confusionCases.forEach((c, i) => {
      const got = confusion(c.labels, Int32Array.from(c.predictions), c.k);
      const want = answer.confusion[i];
      expect(got.matrix).toEqual(want.matrix);
      expect(got.precision).toEqual(want.precision.map((v) => v ?? NaN));
      expect(got.recall).toEqual(want.recall.map((v) => v ?? NaN));
      expect(got.top1).toBe(want.top1);
      expect(got.support).toEqual(want.matrix.map((row) => row.reduce((a, b) => a + b, 0)));
    });
    expect(Number.isNaN(confusion(confusionCases[1].labels, confusionCases[1].predictions, 12).precision[3])).toBe(
      true,
    );
  });

  test('bad input is named', () => {
    expectThrows(
      () => confusion([0, 1], [0], 2),
      RangeError,
      'expected as many predictions as labels for confusion, received 1 predictions and 2 labels',
    );
    expectThrows(
      () => confusion([0, 2], [0, 1], 2),
      RangeError,
      'expected class indices in [0, 1] for confusion labels, received [0, 2] (element 1 is 2)',
    );
    expect(() => confusion([0], [0.5], 2)).toThrow(RangeError);
    expectThrows(
      () => confusion([0], [0], 0),
      RangeError,
      'expected an integer >= 1 for confusion classes, received number 0',
    );
    expect(() => confusion([0], [0], [])).toThrow(TypeError);
    expectThrows(
      () => confusion('0' as never, [0], 1),
      TypeError,
      "expected an array of class indices for confusion labels, received the string '0'",
    );
  });
});

describe('SVG reports', () => {
  test('the curves SVG is XML with the loss, val loss, top-1, top-5 and lr series, title and labels', () => {
    const svg = answer.svg[0];
    expect(svg.tag).toBe('{http://www.w3.org/2000/svg}svg');
    expect(svg.series).toEqual(['train loss', 'val loss', 'top-1', 'top-5', 'lr']);
    expect(svg.texts).toEqual(
      expect.arrayContaining(['ViT <B/16> & "friends"', 'Loss', 'Validation accuracy (%)', 'Learning rate', 'epoch']),
    );
    // Each series has a point per measured epoch; the NaN at epoch 5 starts a new subpath.
    const moves = (d: string): number => (d.match(/M/g) ?? []).length;
    const points = (d: string): number => (d.match(/[ML]/g) ?? []).length;
    expect(points(svg.paths['train loss'])).toBe(29);
    expect(moves(svg.paths['train loss'])).toBe(2);
    expect(points(svg.paths['val loss'])).toBe(10);
    expect(moves(svg.paths['val loss'])).toBe(1);
    expect(points(svg.paths.lr)).toBe(30);
    // A single epoch with no validation still makes a well-formed image, with only what was measured.
    expect(answer.svg[3].series).toEqual(['train loss', 'lr']);
    expect(answer.svg[3].texts).toContain('not measured');
  });

  test('the confusion SVG is XML with every class name and every count', () => {
    const svg = answer.svg[1];
    for (const name of FASHION) expect(svg.texts.filter((t) => t === name)).toHaveLength(2); // row and column
    expect(svg.cells).toHaveLength(100);
    for (const [i, j, n] of svg.cells) expect(n).toBe(fashionConfusion.matrix[i][j]);
    for (const row of fashionConfusion.matrix) for (const n of row) if (n > 0) expect(svg.texts).toContain(String(n));
    expect(svg.texts).toContain(`Confusion matrix (top-1 ${(fashionConfusion.top1 * 100).toFixed(1)}%, 5000 samples)`);
    expect(answer.svg[2].texts).toEqual(expect.arrayContaining([...nastyNames, 'names & <escapes>']));
  });
});

describe('CSV reports', () => {
  test('Python reads the curves, matrix and per-class CSVs as we parse them; tricky fields round-trip', () => {
    csvs.forEach((text, i) => expect(answer.csv[i]).toEqual(parseCsv(text)));
    expect(parseCsv(formatCsv(trickyRows))).toEqual(trickyRows);
    expect(answer.csv[0][0]).toEqual([
      'epoch',
      'train_loss',
      'val_loss',
      'top1',
      'top5',
      'lr',
      'images_per_second',
      'seconds',
    ]);
    expect(answer.csv[1][0]).toEqual(['true \\ predicted', ...FASHION]);
    expect(answer.csv[1][1].slice(1).map(Number)).toEqual(fashionConfusion.matrix[0]);
    expect(answer.csv[2][4]).toEqual(['3', '', '0', expect.any(String)]); // never predicted: no precision
  });

  test('curves round-trip through CSV text and a file, numbers to the bit, missing values kept missing', () => {
    const back = curvesFromCsv(curvesToCsv(records));
    expect(back).toEqual(records.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined))));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-report-'));
    const file = path.join(dir, 'curves.csv');
    writeCurvesCsv(file, records);
    expect(curvesFromCsv(fs.readFileSync(file, 'utf8'))).toEqual(back);
    expect(fs.readdirSync(dir)).toEqual(['curves.csv']);
    fs.rmSync(dir, { recursive: true });
  });

  test('parser edge cases and errors', () => {
    expect(parseCsv('a,b\nc,d')).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(parseCsv('""')).toEqual([['']]);
    expect(parseCsv('a,\r\n')).toEqual([['a', '']]);
    expect(parseCsv('')).toEqual([]);
    expectThrows(() => parseCsv('"abc'), SyntaxError, 'CSV line 1: unterminated quoted field');
    expectThrows(() => parseCsv('a\n"b"c'), SyntaxError, 'CSV line 2: text after a closing quote');
    expectThrows(() => parseCsv('a"b'), SyntaxError, 'CSV line 1: a quote inside an unquoted field');
    expectThrows(
      () => curvesToCsv([{ epoch: 1, trainLoss: '2' as never, lr: 1 }]),
      TypeError,
      "expected a number for curvesToCsv records[0].trainLoss, received the string '2'",
    );
    expectThrows(
      () => curvesFromCsv('epoch,lr\r\n1,2\r\n'),
      RangeError,
      "curves CSV has no 'train_loss' column; header: epoch,lr",
    );
  });
});

describe('progress reporter', () => {
  function capture(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
    let text = '';
    const stream = new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    });
    return { stream, text: () => text };
  }

  test('off a terminal: exactly one line per epoch, messages as their own lines, nothing per step', () => {
    const { stream, text } = capture();
    const progress = createProgressReporter({ stream });
    for (let epoch = 1; epoch <= 3; epoch++) {
      progress.epochStart({ epoch, epochs: 3, steps: 100 });
      for (let step = 1; step <= 100; step++)
        progress.step({ step, loss: 1 / step, accuracy: 0.5, lr: 2.5e-4, imagesPerSecond: 321.25 });
      if (epoch === 2) progress.message('saved logs/ep002.pth');
      progress.epochEnd({
        loss: 0.61234,
        accuracy: 0.8712,
        valLoss: 0.5,
        valTop1: 0.84213,
        valTop5: 0.98765,
        seconds: 61.24,
      });
    }
    progress.epochStart({ epoch: 1, epochs: 1, steps: 1 });
    progress.epochEnd({ loss: 2, lr: 0.01, imagesPerSecond: 10, seconds: 1 });
    progress.stop();
    const line = (e: number): string =>
      `epoch ${e}/3 | loss 0.6123 | acc 87.12% | val loss 0.5000 | val top-1 84.21% | val top-5 98.77% | lr 2.50e-4 | 321.3 images/s | 61.2 s`;
    expect(text()).toBe(
      [
        line(1),
        'saved logs/ep002.pth',
        line(2),
        line(3),
        'epoch 1/1 | loss 2.0000 | lr 1.00e-2 | 10.0 images/s | 1.0 s',
        '',
      ].join('\n'),
    );
  });

  test('formatEpochLine leaves out what was not measured and shows a diverged loss as NaN', () => {
    expect(formatEpochLine(7, 10, { loss: NaN, seconds: 3 })).toBe('epoch 7/10 | loss NaN | 3.0 s');
  });

  test('forced tty draws a bar and replaces it with the summary line', () => {
    const { stream, text } = capture();
    const progress = createProgressReporter({ stream, tty: true });
    progress.epochStart({ epoch: 1, epochs: 2, steps: 4 });
    progress.step({ step: 1, loss: 0.5, accuracy: 0.25, lr: 1e-3, imagesPerSecond: 50 });
    progress.epochEnd({ loss: 0.5, seconds: 2 });
    progress.stop();
    expect(text()).toContain('epoch 1/2 ');
    expect(text()).toContain('loss 0.5000 | acc 25.00% | lr 1.00e-3 | 50.0 img/s');
    expect(text().endsWith('epoch 1/2 | loss 0.5000 | lr 1.00e-3 | 50.0 images/s | 2.0 s\n')).toBe(true);
  });

  test('bad calls', () => {
    const progress = createProgressReporter({ stream: capture().stream });
    expectThrows(() => progress.step({ step: 1, loss: 1 }), Error, 'step() before epochStart()');
    expectThrows(
      () => progress.epochStart({ epoch: 3, epochs: 2, steps: 1 }),
      RangeError,
      'expected an integer in [1, 2] for epochStart epoch, received number 3',
    );
    expectThrows(
      () => progress.message(3 as never),
      TypeError,
      'expected a string for message text, received number 3',
    );
    expectThrows(
      () => createProgressReporter({ stream: {} as never }),
      TypeError,
      'expected a writable stream for createProgressReporter stream, received an object',
    );
  });
});
