// Loading a checkpoint file into a VisionTransformer without holding a second copy of its weights.
//
// load_into_model (checkpoint_adaptation.h) takes a state dict already read into tensors: the file's size in
// fresh tensors, then copied into the parameters. Here the file is indexed first (checkpoint/checkpoint_index.h:
// keys, dtypes and shapes, no data), everything load_into_model decides is decided from those shapes (adaptation
// and its notes, then the strict or non-strict key and shape checks, whose StateDictError is thrown before any
// parameter changes), and then the checkpoint's values are read storage by storage straight into the parameters.
// Only a pos_embed to resample is read into a tensor of its own first. Entries the model does not take (unexpected
// keys, a head the model keeps) are never read.
#pragma once

#include <string>

#include "checkpoint/checkpoint_index.h"
#include "model/checkpoint_adaptation.h"
#include "model/state_dict.h"
#include "model/vision_transformer.h"

namespace vitorch::model {

// Loads an indexed checkpoint into `model` as load_into_model would load its tensors: the same checks, errors,
// adaptation and report, with the index's notes (how the file was unwrapped) first in report.notes. A failure
// that only the data shows (a CRC mismatch, a file changed while being read) can come after some parameters were
// written; its CheckpointError then says so.
LoadReport load_index_into_model(VisionTransformerImpl& model, const checkpoint::CheckpointIndex& index,
                                 const ModelLoadOptions& options);

// CheckpointIndex::open(path, options.read), then load_index_into_model.
LoadReport load_file_into_model(VisionTransformerImpl& model, const std::string& path, const ModelLoadOptions& options);

}  // namespace vitorch::model
