// Fitting a checkpoint made for a different configuration to a VisionTransformer, only when the user asks:
//  - a pos_embed saved for another patch grid (e.g. a model trained at 384x384, 24x24 + 1 rows) is resampled to
//    this model's 224-based grid the way the seed's forward resamples it (bicubic, align_corners=false), class row
//    kept as is;
//  - a head for another class count is not loaded: the model keeps its own (freshly initialised) head.
// Each change is described in the returned notes, so nothing is adapted silently.
#pragma once

#include <string>
#include <vector>

#include "checkpoint/checkpoint_reader.h"
#include "model/state_dict.h"
#include "model/vision_transformer.h"

namespace vitorch::model {

struct AdaptationOptions {
  bool resample_pos_embed = false;
  bool keep_model_head = false;
};

// What is loaded under one key, decided from shapes alone (so before any checkpoint data is read).
struct AdaptationStep {
  enum class Source {
    kCheckpoint,         // the checkpoint's entry as it is
    kResampledPosEmbed,  // the checkpoint's entry, resampled from a from_side to a to_side grid
    kModel,              // the model's own current value (a kept head): nothing is read
  };
  std::string key;
  Source source = Source::kCheckpoint;
  size_t entry = 0;            // kCheckpoint, kResampledPosEmbed: index of the checkpoint's entry
  std::vector<int64_t> sizes;  // the shape of what is loaded under `key`
  int64_t from_side = 0;
  int64_t to_side = 0;
};

// The adaptations adapt_state_dict makes, as steps in the order of the state it returns; `notes` receives one line
// per change. Each checkpoint entry is used by at most one step.
std::vector<AdaptationStep> plan_adaptation(const VisionTransformerImpl& model, const NamedShapes& checkpoint,
                                            const AdaptationOptions& options, std::vector<std::string>& notes);

// The value a kCheckpoint or kResampledPosEmbed step loads, given its checkpoint entry's value.
torch::Tensor adapted_value(const AdaptationStep& step, torch::Tensor checkpoint_value);

// Returns the state with the requested adaptations applied; `notes` receives one line per change.
NamedTensors adapt_state_dict(const VisionTransformerImpl& model, NamedTensors state, const AdaptationOptions& options,
                              std::vector<std::string>& notes);

struct ModelLoadOptions {
  bool strict = true;
  AdaptationOptions adaptation;
  // A file is checked whole (every record's CRC-32, every byte that only the data shows) before the first parameter
  // is written, so a corrupt file leaves a live model as it was. It costs a second read of the file; a model that
  // is thrown away on failure (vit()'s) does not need it.
  bool all_or_nothing = true;
  // How a checkpoint file is read (skip_unknown_globals, ...); unused when the state dict is given as tensors.
  checkpoint::ReadOptions read;
};

// adapt_state_dict, then load_state_dict; the report's notes say what was adapted.
LoadReport load_into_model(VisionTransformerImpl& model, NamedTensors state, const ModelLoadOptions& options);

}  // namespace vitorch::model
