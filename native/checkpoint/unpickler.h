// A small pickle virtual machine for the data.pkl record of a torch.save checkpoint.
//
// It understands pickle protocols 2 to 5 as far as a state dict needs (dicts, lists, tuples, strings, numbers,
// the memo, persistent ids) and builds a PickleValue tree. It never imports or calls anything: the only globals it
// accepts are those in allowed_globals.h, and "calling" one of them (REDUCE) is implemented here: an empty
// OrderedDict, or a tensor built from a storage. Storages arrive as persistent ids and are loaded through a
// callback, so this file knows nothing about zip archives.
//
// Any input bytes give a tree or a vitorch::CheckpointError; the stack, the memo and the number of values are
// bounded, and nothing recurses.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "checkpoint/pickle_value.h"

namespace vitorch::checkpoint {

// What a persistent id ('storage', storage_type, key, location, numel) asks for.
struct StorageRequest {
  c10::ScalarType dtype;
  std::string key;       // the record is <prefix>/data/<key>
  std::string location;  // 'cpu', 'cuda:0', ...
  int64_t element_count;  // as the pickle states it
};

// Returns the whole storage as a contiguous 1-D CPU tensor of request.dtype; called once per persistent id, so it
// should cache by key to keep shared storages shared. Throws CheckpointError if the storage cannot be loaded.
using StorageLoader = std::function<torch::Tensor(const StorageRequest&)>;

struct UnpickledTree {
  std::unique_ptr<PickleValues> values;  // owns every value, including root
  const PickleValue* root = nullptr;
};

// Runs the pickle in `bytes` up to its STOP opcode. `file_path` and `record_name` are only used in messages.
UnpickledTree unpickle(std::string_view bytes, const StorageLoader& load_storage, const std::string& file_path,
                       const std::string& record_name);

}  // namespace vitorch::checkpoint
