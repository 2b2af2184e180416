// Reading the legacy torch.save format: what PyTorch wrote before 1.6, and still writes with
// torch.save(..., _use_new_zipfile_serialization=False).
//
// Such a file is five pickles back to back, then the raw bytes of every storage:
//   1. the magic number 0x1950a86a20f9469cfc6c (a LONG1 of 10 bytes)
//   2. the format's protocol version, 1001
//   3. sys_info: {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {...}}
//   4. the saved object, in which each storage is the persistent id
//        ('storage', storage_type, root_key, location, numel, view_metadata)
//      with view_metadata None or (view_key, offset, size): elements [offset, offset + size) of the root storage
//   5. the list of root storage keys, in the order their data follows
//   then, for each key of that list: its element count as 8 bytes little-endian, then count * element_size bytes.
// Nothing says where one pickle ends but its STOP opcode, and the storages come after the object that uses them,
// so the object is unpickled first (tensors are only described there), then the key list, then the storage
// headers are walked to find each storage's bytes; the kept tensors' storages are read later (checkpoint_index.h).
#pragma once

#include <cstddef>

#include "checkpoint/checkpoint_index.h"
#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

// Whether `head` (the file's first bytes) starts with the legacy format's magic number pickle: PROTO 2 to 5, an
// optional FRAME, then the magic number as a LONG1. 24 bytes are enough to tell.
bool starts_like_torch_legacy(const unsigned char* head, size_t size);

// Throws CheckpointError naming the file and the problem for anything that is not a legacy torch.save file holding a
// state dict. The notes say how the state dict was unwrapped; the 'module.' prefix is left for the caller.
CheckpointLayout index_torch_legacy_checkpoint(const RandomAccessFile& file, const ReadOptions& options);

}  // namespace vitorch::checkpoint
