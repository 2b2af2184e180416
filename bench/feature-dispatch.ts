// MKL picks its GEMM kernels by CPU vendor unless told otherwise: on AMD CPUs a stock PyTorch gets MKL's generic
// paths while vitorch gets the AVX-512 ones (the addon tells MKL to dispatch by features). bench/mkl_feature_dispatch.c, preloaded
// into a PyTorch process, makes MKL dispatch by features there too, so that "PyTorch at its best" is measured with
// the same GEMM kernels vitorch uses. On Intel CPUs both dispatches pick the same kernels.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { root } from './bench-inputs';

/** Compiles bench/mkl_feature_dispatch.c once into model_data/ (with the C compiler the native build needs) and
 *  returns the library to put in LD_PRELOAD. */
export function featureDispatchLibrary(): string {
  const library = path.join(root, 'model_data', 'libmkl-feature-dispatch.so');
  const source = path.join(root, 'bench', 'mkl_feature_dispatch.c');
  if (!fs.existsSync(library) || fs.statSync(library).mtimeMs < fs.statSync(source).mtimeMs) {
    fs.mkdirSync(path.dirname(library), { recursive: true });
    const compiled = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, source], { encoding: 'utf8' });
    if (compiled.status !== 0) throw new Error(`could not compile ${source}: ${compiled.stderr ?? compiled.error}`);
  }
  return library;
}

/** True on CPUs whose vendor is not Intel, where MKL's vendor dispatch and feature dispatch differ. */
export function vendorDispatchDiffers(): boolean {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const vendor = cpuinfo.match(/^vendor_id\s*:\s*(\S+)/m)?.[1];
  return vendor !== undefined && vendor !== 'GenuineIntel';
}
