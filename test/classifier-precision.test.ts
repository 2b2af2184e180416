// loadClassifier's `dtype`: the embedded model at a reduced precision classifies its shipped test images as PyTorch's
// float32 model does (tools/classify_reference.py is the oracle), up to that precision's rounding, and the rounding is
// really there (the model did not quietly stay float32). An unknown precision is refused by name before any file is
// read, and int8 anywhere but on the CPU before the model is touched.
import * as path from 'path';
import { defaultModelDir, defaultModelImages, loadClassifier, VisionTransformer } from '../lib';
import type { InferencePrecision } from '../lib';
import { applyInferencePrecision } from '../lib/inference-precision';
import { expectRejects, expectThrows } from './expect-error';
import { embeddedModelReference } from './python';

const CONFIG = path.join(defaultModelDir(), 'config.json');
const WEIGHTS = path.join(defaultModelDir(), 'weights.pth');
// float32 gives PyTorch's probabilities within 1e-4 (test/default-model.test.ts); below that, a precision that only
// looked reduced.
const FLOAT32_TOLERANCE = 1e-4;
// Measured here (AVX-512 VNNI and BF16) on the ten shipped images: int8 moves a probability by at most 1.3e-3,
// bfloat16 by 1.4e-3; this leaves room for a CPU without VNNI, whose int8 inputs use 7 bits.
const PROBABILITY_TOLERANCE = 2e-2;
// Of the ten images, the top-1 class may differ from PyTorch's float32 on at most one (a near tie flipped by the
// rounding); none differs on the machine it was measured on.
const MAX_TOP1_DIFFERENCES = 1;

const images = defaultModelImages();
let pytorch: number[][];

beforeAll(() => {
  pytorch = embeddedModelReference<{ probabilities: number[][] }>(images.map((i) => i.file)).probabilities;
});

const REDUCED: { dtype: InferencePrecision; modelDtype: string; quantized: boolean }[] = [
  { dtype: 'int8', modelDtype: 'float32', quantized: true },
  { dtype: 'bfloat16', modelDtype: 'bfloat16', quantized: false },
];

test.each(REDUCED)(
  "{ dtype: '$dtype' }: PyTorch float32's top-1 and probabilities up to the rounding, the model at that precision",
  async ({ dtype, modelDtype, quantized }) => {
    using classifier = await loadClassifier(CONFIG, WEIGHTS, { dtype });
    expect(classifier.model.quantized).toBe(quantized);
    expect(classifier.model.dtype).toBe(modelDtype);
    const classes = classifier.classes.length;
    const predictions = await classifier.classify(
      images.map((i) => i.file),
      classes,
    );
    let top1Differences = 0;
    let largestDifference = 0;
    predictions.forEach((top, i) => {
      const best = pytorch[i].indexOf(Math.max(...pytorch[i]));
      if (top[0].index !== best) top1Differences++;
      for (const p of top) {
        largestDifference = Math.max(largestDifference, Math.abs(p.probability - pytorch[i][p.index]));
      }
    });
    expect(top1Differences).toBeLessThanOrEqual(MAX_TOP1_DIFFERENCES);
    expect(largestDifference).toBeLessThanOrEqual(PROBABILITY_TOLERANCE);
    expect(largestDifference).toBeGreaterThan(FLOAT32_TOLERANCE);
  },
);

test("{ dtype: 'int9' }: a RangeError naming the accepted precisions, before the weights are read", async () => {
  await expectRejects(
    loadClassifier(CONFIG, '/nonexistent/weights.pth', { dtype: 'int9' as InferencePrecision }),
    RangeError,
    "expected one of float32, float64, float16, bfloat16, int8 for dtype, received the string 'int9'",
  );
});

test('int8 with a CUDA device: a RangeError saying int8 is a CPU mode, the model left as it was', () => {
  using model = new VisionTransformer({ inputShape: [28, 28], patchSize: 4, inChans: 1, numClasses: 10, depth: 1 });
  model.eval();
  expectThrows(
    () => applyInferencePrecision(model, 'int8', 'cuda'),
    RangeError,
    "expected the CPU for dtype 'int8' (int8 is a CPU mode: model.quantize() of a float32 model), received device 'cuda'",
  );
  expect([model.device, model.dtype, model.quantized]).toEqual(['cpu', 'float32', false]);
});
