// From logits to the answer people read: the softmax probabilities of each image and its k most probable classes.
// Classifier.classify, `vitorch predict` and the server's /v1/classify all rank through here, so they agree.

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

/** Softmax in float64 (max subtracted first, so large logits do not overflow) of each row of `logits`. */
export function softmaxRows(logits: Float32Array, rows: number): Float64Array[] {
  const k = logits.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    const row = logits.subarray(r * k, (r + 1) * k);
    const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
    const exps = Float64Array.from(row, (x) => Math.exp(x - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  });
}

/** The k most probable classes, most probable first; equal probabilities in class order, as torch.topk on CPU
 *  gives them for a small row. */
export function topK(probabilities: Float64Array, k: number, classes: readonly string[]): Prediction[] {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  return order.slice(0, k).map((index) => ({ label: classes[index], index, probability: probabilities[index] }));
}
