// libFuzzer target: the pickle machine (checkpoint/unpickler.cc) on arbitrary bytes, then what the readers ask of
// its tree (storage_ref, tensor_ref). Any input must give a tree or a CheckpointError: a crash, a sanitizer report,
// a hang or an allocation past libFuzzer's limit is a bug. Seeds: the data.pkl records and legacy pickles of the
// real checkpoints in test/fixtures/generated (native/fuzz/make_seeds.py).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "checkpoint/pickle_input.h"
#include "checkpoint/unpickler.h"
#include "common/errors.h"

namespace {

using namespace vitorch::checkpoint;

void visit(const PickleValue& value) {
  if (value.kind == PickleValue::Kind::kStorage) {
    (void)storage_ref(value);
  } else if (value.kind == PickleValue::Kind::kTensor) {
    (void)tensor_ref(value);
  }
}

void run(std::string_view bytes, PersistentIds ids, bool skip_unknown_globals) {
  MemoryPickleInput input(bytes);
  UnpickleContext context;
  context.file_path = "fuzz.pkl";
  context.source = "the fuzz input";
  context.persistent_ids = ids;
  context.skip_unknown_globals = skip_unknown_globals;
  try {
    const UnpickledTree tree = unpickle(input, context);
    for (const PickleValue& value : *tree.values) visit(value);
  } catch (const vitorch::CheckpointError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  run(bytes, PersistentIds::kZipStorages, false);
  run(bytes, PersistentIds::kZipStorages, true);
  run(bytes, PersistentIds::kLegacyStorages, false);
  return 0;
}
