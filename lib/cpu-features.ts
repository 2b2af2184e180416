// What the CPU can do fast, read once from /proc/cpuinfo (Linux; elsewhere nothing is known and nothing is claimed).
// Reduced precision only pays off where the hardware computes in it: without AVX-512 BF16 or AMX, libtorch's
// bfloat16 kernels run far slower than float32 ones (about 40x for ViT-B/16 GEMMs on an AVX2-only CPU).
import * as fs from 'fs';

let flags: Set<string> | null | undefined;

/** The CPU's feature flags, or null where they cannot be read. */
export function cpuFlags(): Set<string> | null {
  if (flags !== undefined) return flags;
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^flags\s*:(.*)$/m.exec(info);
    flags = line ? new Set(line[1].trim().split(/\s+/)) : null;
  } catch {
    flags = null;
  }
  return flags;
}

/** false when the CPU is known to lack bfloat16 arithmetic (AVX-512 BF16 or AMX-BF16); true when it has it or when
 *  nothing is known. */
export function cpuComputesBfloat16(): boolean {
  const f = cpuFlags();
  return f === null || f.has('avx512_bf16') || f.has('amx_bf16');
}
