// Reading the zip-based torch.save format (PyTorch >= 1.6, the default ever since).
//
// Such a file is a zip archive with every record under one top-level folder (usually the file's stem):
//   <prefix>/data.pkl      the pickled object, in which each tensor refers to its storage by key
//   <prefix>/data/<key>    the raw little-endian bytes of each storage
//   <prefix>/byteorder     'little' (absent in files from older versions, which were little-endian)
//   <prefix>/version, <prefix>/.data/serialization_id, ...  not needed for loading
// This file glues ZipArchive and the unpickler: it finds the prefix, unpickles data.pkl, picks the state dict out of
// it (state_dict_selection.h) and indexes the storages of those tensors only, each once (checkpoint_index.h).
#pragma once

#include "checkpoint/checkpoint_index.h"
#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

// Throws CheckpointError naming the file and the problem for anything that is not a torch.save zip holding a dict
// of tensors.
// The notes say how the state dict was unwrapped; the 'module.' prefix is left for the caller. Reads data.pkl and
// the small records only; the layout's archive reads the storages later.
CheckpointLayout index_torch_zip_checkpoint(const RandomAccessFile& file, const ReadOptions& options);

}  // namespace vitorch::checkpoint
