/* For bench/inference.ts only: LD_PRELOADed into the PyTorch contestants marked "feature-dispatch" so that their
 * MKL chooses GEMM kernels by CPU features, as vitorch's addon makes it do (native/loader/mkl_cpu_dispatch.cc).
 * Comparing both forms shows how much of vitorch's lead on AMD CPUs is this choice and how much is the rest. */
int mkl_serv_intel_cpu_true(void) { return 1; }
