// Process-wide settings: libtorch's intra-op thread pool and the GPUs it can see.
import { binding } from './binding';
import { requireInteger } from './validate';

/** Threads libtorch uses inside one operation (a matrix multiply, a convolution). Each forwardAsync runs on a libuv
 *  pool thread and then fans out to these; with several models or calls in flight, the two pools multiply. */
export function setNumThreads(count: number): void {
  binding.setNumThreads(requireInteger(count, 'setNumThreads(count)', 1, 1024));
}

export function getNumThreads(): number { return binding.getNumThreads(); }

export const cuda = {
  /** Whether a CUDA GPU is usable by this process. */
  isAvailable(): boolean { return binding.cudaAvailable(); },
  deviceCount(): number { return binding.cudaDeviceCount(); },
};

/** The libtorch version vitorch is running on. */
export const libtorchVersion: string = binding.libtorchVersion;
