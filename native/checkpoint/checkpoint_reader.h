// Reading checkpoints written by torch.save, without Python.
//
// libtorch's own torch::pickle_load cannot read a real state_dict() file (it fails on the OrderedDict that
// state_dict() returns, pytorch issues 37213 and 100741), so the zip container and the pickle inside it are read
// here, with an unpickler that accepts only the globals a state dict needs.
//
// Entry point for the rest of vitorch. Format detection lives behind it so that the legacy (pre-1.6) format and
// safetensors can be added without touching callers.
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace vitorch::checkpoint {

// Tensors in the order the file lists them (for a state_dict: the order of the model's parameters).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct ReadOptions {
  // Verify the CRC-32 that torch.save writes for every zip record; a flipped byte is then an error rather than
  // silently wrong weights.
  bool verify_checksums = true;
};

// Reads a file holding a dict (dict or collections.OrderedDict) of tensor name -> tensor. Tensors are created on
// the CPU with the dtype, sizes, strides and storage offset the file gives; tensors that shared a storage in
// Python share one here.
// Throws vitorch::CheckpointError naming the file and what is wrong for anything that is not such a file.
NamedTensors read_checkpoint(const std::string& path, const ReadOptions& options = {});

}  // namespace vitorch::checkpoint
