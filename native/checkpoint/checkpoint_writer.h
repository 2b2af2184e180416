// Writing checkpoints that Python reads: the torch.save zip format (torch.load(path, weights_only=True) accepts
// it, and the seed model's load_state_dict(strict=True) takes what it returns) and safetensors.
//
// Every write is atomic: the bytes go to a temporary file in the target's folder, are flushed to disk, and the
// temporary file is then renamed over the target. A crash or a full disk mid-write leaves the old file intact.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_reader.h"

namespace vitorch::checkpoint {

enum class WriteFormat {
  kTorchZip,     // .pth / .pt: an OrderedDict of tensors, as torch.save(model.state_dict()) writes it
  kSafetensors,  // .safetensors
};

struct WriteOptions {
  WriteFormat format = WriteFormat::kTorchZip;
  // safetensors only: the header's __metadata__ (string -> string).
  std::map<std::string, std::string> metadata;
};

// Tensors are written in the given order with their names, dtypes and shapes; each is written as a contiguous
// CPU copy (views do not drag their whole base storage along). Throws CheckpointError naming the path for I/O
// failures (the target is then untouched) and InvalidValue for what the format cannot hold (e.g. duplicate names).
void write_checkpoint(const std::string& path, const NamedTensors& tensors, const WriteOptions& options = {});

}  // namespace vitorch::checkpoint
