// Process-wide settings: libtorch's intra-op thread pool, its CPU memory cache and the GPUs it can see.
import * as os from 'os';
import { isMainThread } from 'worker_threads';
import { binding, CpuCacheStats, cudaProblem } from './binding';
import { requireInteger } from './validate';

/** Threads libtorch uses inside one operation (a matrix multiply, a convolution). vitorch sets it when it loads,
 *  to VITORCH_NUM_THREADS if set, else OMP_NUM_THREADS if set (as PyTorch does: torchrun and `vitorch train
 *  --nproc-per-node` share the cores out through it), else os.availableParallelism(): libtorch's own default differs
 *  between builds
 *  (some start with one thread). Async calls and the heavy synchronous ones run on vitorch's one compute thread
 *  (README: Memory and threads), each fanning out to this many threads; calls on several models take turns. */
export function setNumThreads(count: number): void {
  binding.setNumThreads(requireInteger(count, 'setNumThreads(count)', 1, 1024));
}

/** Where the default thread count comes from: the first of these variables set to a valid count. */
export function threadCountSource(env: NodeJS.ProcessEnv = process.env): { count: number; setBy: string } {
  for (const name of ['VITORCH_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const configured = Number(env[name]);
    if (env[name] && Number.isInteger(configured) && configured >= 1 && configured <= 1024) {
      return { count: configured, setBy: `${name}=${configured}` };
    }
  }
  return { count: os.availableParallelism(), setBy: 'os.availableParallelism()' };
}

function defaultThreadCount(): number {
  return threadCountSource().count;
}
binding.setNumThreads(defaultThreadCount());
// process.exit() destroys libtorch's statics at once; the compute thread, which async calls still queued would keep
// busy, finishes the task it is running and stops first (native/runtime/compute_thread.h). A worker thread's exit
// ends that worker only.
if (isMainThread) process.on('exit', () => binding.stopComputeThread());

export function getNumThreads(): number {
  return binding.getNumThreads();
}

export const cuda = {
  /** Whether a CUDA GPU is usable by this process. */
  isAvailable(): boolean {
    return binding.cudaAvailable();
  },
  deviceCount(): number {
    return binding.cudaDeviceCount();
  },
  /** Why libtorch's CUDA libraries did not load although it has them (a torch installed without its CUDA
   *  dependencies, say), or null. CUDA is then unavailable and vitorch runs on the CPU. */
  problem: cudaProblem,
};

/** The libtorch version vitorch is running on. */
export const libtorchVersion: string = binding.libtorchVersion;

/** The libtorch vitorch loaded: its folder, full version, C++ ABI, whether it has CUDA libraries, and how it was
 *  found (README: How libtorch is found). */
export { libtorch } from './binding';

/** vitorch keeps the memory of freed large CPU tensors (>= 256 KiB) and reuses it for the next tensor of the same
 *  size: a forward then touches no new pages, which would otherwise cost the kernel a page fault each. Up to 1 GiB
 *  (VITORCH_CPU_CACHE_BYTES to change it at startup) stays cached; V8 does not count it. */
export const cpuCache = {
  stats(): CpuCacheStats {
    return binding.cpuCacheStats();
  },
  /** 0 turns caching off. Lowering the limit frees what is above it now. */
  setLimit(bytes: number): void {
    binding.setCpuCacheLimit(requireInteger(bytes, 'cpuCache.setLimit(bytes)', 0));
  },
  /** Frees all idle cached memory (live tensors keep theirs). */
  release(): void {
    binding.releaseCpuCache();
  },
};

export type { CpuCacheStats };
