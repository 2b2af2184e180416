// The autograd helpers of a hand-written training loop: the classification loss, a no-grad scope and seeding.
// Together with Tensor's backward(), grad, item(), argmax(), ... and model.zeroGrad() they are all a custom loop
// needs; Trainer runs whole steps natively instead.
import { binding } from '../binding';
import { Tensor } from '../tensor';
import { expected, requireNumber, requireObject, rejectUnknownKeys } from '../validate';

export interface CrossEntropyOptions {
  /** PyTorch's label smoothing: the target is (1 - s) one-hot + s / classes. Default 0. */
  labelSmoothing?: number;
}

/** Mean cross-entropy of logits [N, classes] against class indices [N] (int32 or int64), computed in float32.
 *  Records an autograd graph when the logits have one, so `loss.backward()` follows. */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  if (!(logits instanceof Tensor)) throw new TypeError(expected('a Tensor', 'logits', logits));
  if (!(labels instanceof Tensor)) throw new TypeError(expected('a Tensor', 'labels', labels));
  const o = requireObject(options, 'crossEntropy options');
  rejectUnknownKeys(o, ['labelSmoothing'], 'crossEntropy options');
  const smoothing =
    o.labelSmoothing === undefined
      ? 0
      : requireNumber(o.labelSmoothing, 'labelSmoothing', (n) => n >= 0 && n <= 1, 'a number in [0, 1]');
  return new Tensor(binding.crossEntropy(logits.native, labels.native, smoothing));
}

/** Runs `fn` with autograd off on the calling thread (PyTorch's torch.no_grad()), and restores the previous mode
 *  even if it throws. For synchronous code: work that `fn` starts asynchronously runs on other threads, where the
 *  model's mode decides (evaluation records no graph). */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(expected('a function', 'noGrad(fn)', fn));
  const previous = binding.setGradEnabled(false);
  try {
    const result = fn();
    if (result instanceof Promise) {
      throw new TypeError(
        'noGrad(fn) takes a synchronous function; an async one would leave its awaited part with autograd on',
      );
    }
    return result;
  } finally {
    binding.setGradEnabled(previous);
  }
}

/** Seeds libtorch's random generators (dropout, DropPath, initialisation). With the same seed, machine and thread
 *  count, training reproduces exactly. */
export function manualSeed(seed: number): void {
  requireNumber(seed, 'manualSeed(seed)', (n) => Number.isSafeInteger(n) && n >= 0, 'a non-negative safe integer');
  binding.manualSeed(seed);
}
