// MKL picks its matrix-multiply kernels by CPU vendor before CPU features: on AMD processors it takes slower generic
// paths even where the CPU has the AVX2/FMA units the Intel paths need (measured here on an AVX2 EPYC: ViT-B/16's
// GEMMs ran 20-40% faster with the Intel paths). MKL asks mkl_serv_intel_cpu_true() which kind of CPU it runs on;
// libtorch exports that function and calls it through the dynamic linker, and the loader (this library) joins the
// global lookup scope before libtorch does (lib/binding.ts loads it first, with RTLD_GLOBAL), so the definition
// below answers instead. Kernel choice still follows the CPU features MKL detects. VITORCH_MKL_VENDOR_DISPATCH=1
// restores MKL's own answer.
#include <dlfcn.h>

#include <cstdlib>

namespace {

using VendorCheck = int (*)();

int mkl_own_answer() {
  static const auto original = reinterpret_cast<VendorCheck>(dlsym(RTLD_NEXT, "mkl_serv_intel_cpu_true"));
  return original != nullptr ? original() : 0;
}

bool keep_vendor_dispatch() {
  static const bool keep = [] {
    const char* value = std::getenv("VITORCH_MKL_VENDOR_DISPATCH");
    return value != nullptr && value[0] == '1';
  }();
  return keep;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int mkl_serv_intel_cpu_true() {
  return keep_vendor_dispatch() ? mkl_own_answer() : 1;
}
