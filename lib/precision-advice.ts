// Which floating-point precisions this machine's CPU computes fast, and the one warning vitorch gives when a model
// (model.to) or a Trainer's autocast is set to a precision the CPU runs at a fraction of float32's speed. The figures
// are ViT-B/16 measurements (bench/inference.ts): reduced precision only pays off where the hardware computes in it.
//   bfloat16: with AVX-512 BF16 or AMX-BF16 about 2x float32's images/s at batch 1 and 8 (a Zen 5, torch 2.15:
//             22.0 against 11.0, 22.5 against 12.3); without them libtorch emulates it, about 40x slower than float32
//             (an AVX2-only EPYC, torch 2.5.1).
//   int8:     model.quantize() (dynamic int8 Linear layers) with int8 dot products (AVX-512 VNNI, AVX-VNNI, AMX-INT8)
//             about 2.7x float32 (a Zen 5: 31.3 and 33.6 images/s at batch 1 and 8); without them oneDNN sums
//             int8 products in 16 bits, inputs are quantized to 7 bits and it gains less: 1.7x (the same Zen 5 with
//             oneDNN and MKL limited to AVX2: 10.2 against 6.1 images/s at batch 1).
//   float16:  slow on every CPU measured, AVX-512 BF16 ones included (a Zen 5, torch 2.15: 1.48 images/s at batch 8
//             against 12.2 in float32): libtorch's CPU kernels for it are not the fast ones. It is a GPU precision.
import { cpuFlags } from './cpu-features';

export type ReducedPrecision = 'bfloat16' | 'float16' | 'int8';

export interface PrecisionVerdict {
  dtype: 'float32' | ReducedPrecision;
  /** true: about float32's speed or faster here; false: a fraction of it; null: the CPU's features are unknown. */
  fast: boolean | null;
  reason: string;
}

const SLOW_CODES: Record<ReducedPrecision, string> = {
  bfloat16: 'VITORCH_SLOW_BFLOAT16',
  float16: 'VITORCH_SLOW_FLOAT16',
  int8: 'VITORCH_SLOW_INT8',
};

// The CPU features with which oneDNN multiplies uint8 by int8 in one instruction (vpdpbusd, or AMX tiles).
const INT8_DOT_PRODUCT_FLAGS = ['avx512_vnni', 'avx_vnni', 'amx_int8'];

/** true where the CPU has no int8 dot-product instruction, so int8 inputs must use 7 bits (see model.quantize). */
export function int8NeedsReducedRange(): boolean {
  const flags = cpuFlags();
  return flags === null || !INT8_DOT_PRODUCT_FLAGS.some((flag) => flags.has(flag));
}

function int8Verdict(): PrecisionVerdict {
  const flags = cpuFlags();
  if (flags === null) return { dtype: 'int8', fast: null, reason: "the CPU's features are unknown (no /proc/cpuinfo)" };
  const units = INT8_DOT_PRODUCT_FLAGS.filter((flag) => flags.has(flag));
  if (units.length > 0) {
    return {
      dtype: 'int8',
      fast: true,
      reason: `the CPU has int8 dot products (${units.join(', ')}): model.quantize() runs ViT-B/16 at about 2.7x float32's images/s`,
    };
  }
  return {
    dtype: 'int8',
    fast: false,
    reason:
      'a CPU without VNNI or AMX multiplies int8 through 16-bit sums, with 7-bit inputs (less accurate): about 1.7x ' +
      "float32's images/s for ViT-B/16 instead of 2.7x",
  };
}

function bfloat16Verdict(): PrecisionVerdict {
  const flags = cpuFlags();
  if (flags === null)
    return { dtype: 'bfloat16', fast: null, reason: "the CPU's features are unknown (no /proc/cpuinfo)" };
  const units = ['avx512_bf16', 'amx_bf16'].filter((flag) => flags.has(flag));
  if (units.length > 0) {
    return {
      dtype: 'bfloat16',
      fast: true,
      reason: `the CPU computes in bfloat16 (${units.join(', ')}): about 2x float32's images/s for ViT-B/16`,
    };
  }
  return {
    dtype: 'bfloat16',
    fast: false,
    reason:
      'a CPU without AVX-512 BF16 or AMX runs bfloat16 much slower than float32 (libtorch emulates bfloat16 ' +
      'arithmetic there: about 40x slower for ViT-B/16)',
  };
}

/** What each precision costs on this CPU, float32 first. */
export function cpuPrecisions(): PrecisionVerdict[] {
  return [
    {
      dtype: 'float32',
      fast: true,
      reason: "the reference: every CPU computes it at full speed, with PyTorch's numbers",
    },
    bfloat16Verdict(),
    {
      dtype: 'float16',
      fast: false,
      reason:
        'libtorch computes float16 slowly on every CPU (ViT-B/16 at batch 8: 1.48 images/s against 12.2 in ' +
        'float32 on an AVX-512 BF16 CPU); it is a GPU precision',
    },
    int8Verdict(),
  ];
}

/** The precision that runs CPU inference fastest here: int8 (model.quantize()) where the CPU has int8 dot products,
 *  else bfloat16 where it computes in bfloat16, else float32. Without VNNI int8 still gains a little over float32, but
 *  with 7-bit inputs: the verdict calls that slow, and it is not recommended. */
export function recommendedCpuPrecision(): 'float32' | 'bfloat16' | 'int8' {
  if (int8Verdict().fast === true) return 'int8';
  return bfloat16Verdict().fast === true ? 'bfloat16' : 'float32';
}

const warned = new Set<string>();

/** Warns once per process (process.emitWarning with a code) when `dtype` on `device` runs at a fraction of float32's
 *  speed (int8: when it gains much less than it does with int8 dot products). `what` names the call, for the message: "model.to({ dtype: 'float16' })". */
export function warnIfSlowPrecision(dtype: string, device: string, what: string): void {
  if (device !== 'cpu' || (dtype !== 'bfloat16' && dtype !== 'float16' && dtype !== 'int8')) return;
  const verdict = cpuPrecisions().find((v) => v.dtype === dtype)!;
  const code = SLOW_CODES[dtype];
  if (verdict.fast !== false || warned.has(code)) return;
  warned.add(code);
  // int8 without VNNI still beats float32, by less and with coarser inputs; the half precisions lose to it outright.
  const advice =
    dtype === 'int8'
      ? 'bfloat16, where the CPU computes in it, or float32 may serve better'
      : 'float32 is faster on this machine';
  process.emitWarning(`${what} on the CPU: ${verdict.reason}. ${advice} (\`vitorch doctor\` lists what is fast here)`, {
    code,
  });
}
