// The value tree the unpickler builds: the few Python types a torch.save checkpoint contains, plus storages and
// tensors.
//
// Storages and tensors are descriptions, not data: a storage is the persistent id that names it, a tensor is its
// storage and view geometry. The reader decides which tensors it keeps (a training checkpoint's optimizer state
// is thrown away) and only then loads their storages, which in the legacy format come after the pickle anyway.
//
// Values live in an arena (PickleValues) and point at each other with plain pointers. Pickles can share objects
// (the memo) and even build cycles (a list appended to itself), and a hostile pickle can nest values millions
// deep; with an arena, shared values need no reference counting, cycles cannot leak, and freeing the tree never
// recurses, so no input can exhaust the stack.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vitorch::checkpoint {

// The globals a state dict pickle may name (see allowed_globals.h); anything else is refused before use.
enum class AllowedGlobal {
  kOrderedDict,                // collections.OrderedDict
  kRebuildTensorV2,            // torch._utils._rebuild_tensor_v2
  kRebuildTensor,              // torch._utils._rebuild_tensor
  kRebuildParameter,           // torch._utils._rebuild_parameter
  kRebuildParameterWithState,  // torch._utils._rebuild_parameter_with_state
  kStorageType,                // torch.FloatStorage and friends; the dtype is in PickleValue::storage_dtype
};

struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    // An inert placeholder for a global outside the allowlist and for everything made from it, read only with
    // ReadOptions::skip_unknown_globals (see skipped_globals.h). It is its own kind so that no check for a
    // global, storage or tensor can ever accept it.
    kSkipped,
  };

  Kind kind = Kind::kNone;
  bool boolean = false;  // kBool
  int64_t integer = 0;   // kInt
  double real = 0.0;     // kFloat
  std::string text;      // kString (UTF-8), kBytes, kGlobal and kSkipped ("module.name"), kStorage (its key)
  // kTuple, kList: the elements.
  // kStorage: the parts of its persistent id, checked when it was read (see storage_ref() in unpickler.h).
  // kTensor: {storage, storage_offset, size, stride}: a kStorage, a kInt and two kTuples of kInt, checked when the
  //          tensor was rebuilt (see tensor_ref() in unpickler.h).
  std::vector<PickleValue*> items;
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // kDict, in insertion order
  PickleValue* build_state = nullptr;  // kDict: the state BUILD gave it (OrderedDict's _metadata), else null
  AllowedGlobal global = AllowedGlobal::kOrderedDict;          // kGlobal
  c10::ScalarType storage_dtype = c10::ScalarType::Undefined;  // kGlobal of kStorageType, kStorage

  // kDict: position in `entries` of each str / int key, so that setting a key again replaces its value in place
  // (as Python does) in constant time. Created on the first insertion.
  std::unique_ptr<std::unordered_map<std::string, size_t>> key_positions;
};

// Owns every value of one unpickled tree. A deque never moves its elements, so pointers between values stay valid.
using PickleValues = std::deque<PickleValue>;

// Python's name for the kind, for messages ("expected a dict, found a list").
inline const char* kind_name(PickleValue::Kind kind) {
  switch (kind) {
    case PickleValue::Kind::kNone: return "None";
    case PickleValue::Kind::kBool: return "bool";
    case PickleValue::Kind::kInt: return "int";
    case PickleValue::Kind::kFloat: return "float";
    case PickleValue::Kind::kString: return "str";
    case PickleValue::Kind::kBytes: return "bytes";
    case PickleValue::Kind::kTuple: return "tuple";
    case PickleValue::Kind::kList: return "list";
    case PickleValue::Kind::kDict: return "dict";
    case PickleValue::Kind::kGlobal: return "global";
    case PickleValue::Kind::kStorage: return "storage";
    case PickleValue::Kind::kTensor: return "tensor";
    case PickleValue::Kind::kSkipped: return "skipped object";
  }
  return "value";
}

// The kind with an article, for messages: "a list", "an int", "None".
inline std::string describe_kind(PickleValue::Kind kind) {
  if (kind == PickleValue::Kind::kNone) return "None";
  const std::string name = kind_name(kind);
  return (kind == PickleValue::Kind::kInt ? "an " : "a ") + name;
}

}  // namespace vitorch::checkpoint
