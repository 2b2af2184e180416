// Reading checkpoints without Python: torch.save files (the zip format of PyTorch >= 1.6 and the legacy format
// before it) and safetensors files.
//
// libtorch's own torch::pickle_load cannot read a real state_dict() file (it fails on the OrderedDict that
// state_dict() returns, pytorch issues 37213 and 100741), so the containers and the pickles inside them are read
// here, with an unpickler that accepts only the globals a state dict needs. safetensors headers are read with a
// small strict JSON parser.
//
// Entry point for the rest of vitorch. The format is told from the file's first bytes, never from its name.
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace vitorch::checkpoint {

// Tensors in the order the file lists them (for a torch.save state_dict: the order of the model's parameters;
// for safetensors: the header's order, which is the order of the data in the file, not the order the dict had in
// Python).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct ReadOptions {
  // Verify the CRC-32 that torch.save writes for every zip record; a flipped byte is then an error rather than
  // silently wrong weights. (The legacy format and safetensors have no checksums.)
  bool verify_checksums = true;
  // Take the state dict out of a training checkpoint ({'state_dict': ..., 'epoch': ...} or {'model': ..., ...})
  // and remove the 'module.' prefix DataParallel adds to every key; each is recorded in Checkpoint::notes.
  bool unwrap = true;
  // Read a pickle that names globals outside the allowlist (a training checkpoint's argparse.Namespace, numpy
  // scalars) instead of refusing it: each such object becomes an inert placeholder, never imported, called or
  // taken for a tensor (skipped_globals.h), and a note names every distinct global skipped. The state dict's
  // tensors must still be plain tensors. Off by default, as torch.load(weights_only=True) refuses such files.
  bool skip_unknown_globals = false;
};

struct Checkpoint {
  std::string format;  // "torch-zip", "torch-legacy" or "safetensors"
  NamedTensors tensors;
  std::vector<std::string> notes;  // what was done to get a state dict out of the file, one line each
  std::vector<std::pair<std::string, std::string>> metadata;  // safetensors __metadata__, in file order
};

// Reads a file holding a state dict: a dict (dict or collections.OrderedDict) of tensor name -> tensor, possibly
// wrapped (see ReadOptions::unwrap). Tensors are created on the CPU with the dtype, sizes, strides and storage
// offset the file gives; tensors that shared a storage in Python share one here (safetensors has no sharing: each
// tensor owns its data). Only the tensors returned are loaded: a training checkpoint's optimizer state is skipped.
// Throws vitorch::CheckpointError naming the file and what is wrong for anything that is not such a file.
Checkpoint load_checkpoint_file(const std::string& path, const ReadOptions& options = {});

// load_checkpoint_file(path, options).tensors.
NamedTensors read_checkpoint(const std::string& path, const ReadOptions& options = {});

}  // namespace vitorch::checkpoint
