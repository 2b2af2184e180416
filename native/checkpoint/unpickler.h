// A small pickle virtual machine for the pickles of a torch.save checkpoint.
//
// It understands pickle protocols 2 to 5 as far as a checkpoint needs (dicts, lists, tuples, strings, numbers,
// the memo, persistent ids) and builds a PickleValue tree. It never imports or calls anything: the only globals it
// accepts are those in allowed_globals.h, and "calling" one of them (REDUCE) is implemented here: an empty
// OrderedDict, or a tensor description. Any other global is refused by name, unless the context asks to skip it
// (UnpickleContext::skip_unknown_globals): then it is an inert placeholder (skipped_globals.h). Storages arrive as
// persistent ids and are not loaded here: a tensor in the tree names its storage and geometry (storage_ref(),
// tensor_ref()), and the reader loads the storages of the tensors it keeps. So this file knows nothing about zip
// archives or the legacy layout.
//
// Any input bytes give a tree or a vitorch::CheckpointError; the stack, the memo and the number of values are
// bounded, and nothing recurses.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/pickle_input.h"
#include "checkpoint/pickle_value.h"

namespace vitorch::checkpoint {

// Which persistent ids a pickle may hold.
enum class PersistentIds {
  kNone,            // none (the legacy format's small header pickles)
  kZipStorages,     // ('storage', storage_type, key, location, numel): torch.save's zip format
  kLegacyStorages,  // ('storage', storage_type, root_key, location, numel, view_metadata): the legacy format
};

struct UnpickleContext {
  std::string file_path;  // for messages
  std::string source;     // for messages: what the pickle is, e.g. "record 'archive/data.pkl'"
  PersistentIds persistent_ids = PersistentIds::kZipStorages;
  // Unknown globals become kSkipped placeholders instead of errors (ReadOptions::skip_unknown_globals).
  bool skip_unknown_globals = false;
};

struct UnpickledTree {
  std::unique_ptr<PickleValues> values;  // owns every value, including root
  const PickleValue* root = nullptr;
  // With skip_unknown_globals: the distinct unknown globals the pickle named, in the order first named (at most
  // SkippedGlobals::kMaxDistinct; `skipped_globals_overflowed` says there were more), for skipped_globals_note().
  std::vector<std::string> skipped_globals;
  bool skipped_globals_overflowed = false;
};

// Runs the pickle from `input`'s current position up to and including its STOP opcode, leaving `input` just past
// it.
UnpickledTree unpickle(PickleInput& input, const UnpickleContext& context);

// What a storage persistent id (a kStorage value) names.
struct StorageRef {
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  std::string key;        // zip: the record is <prefix>/data/<key>; legacy: the key of the whole (root) storage
  std::string location;   // 'cpu', 'cuda:0', ...
  int64_t element_count;  // of the whole storage, as the pickle states it (>= 0)
  // Legacy format only: the id names elements [view_offset, view_offset + view_size) of the root storage, known by
  // itself as view_key. Unchecked against element_count.
  bool is_view = false;
  std::string view_key;
  int64_t view_offset = 0;
  int64_t view_size = 0;
};
StorageRef storage_ref(const PickleValue& storage);

// What a kTensor value is: a view of a storage, as torch._utils._rebuild_tensor_v2 would make it. Sizes, strides
// and offset are as the file gives them (unchecked; tensor_from_storage checks them against the storage).
struct TensorRef {
  const PickleValue* storage = nullptr;  // a kStorage
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};
TensorRef tensor_ref(const PickleValue& tensor);

}  // namespace vitorch::checkpoint
