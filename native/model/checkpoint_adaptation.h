// Fitting a checkpoint made for a different configuration to a VisionTransformer, only when the user asks:
//  - a pos_embed saved for another patch grid (e.g. a model trained at 384x384, 24x24 + 1 rows) is resampled to
//    this model's 224-based grid the way the seed's forward resamples it (bicubic, align_corners=false), class row
//    kept as is;
//  - a head for another class count is not loaded: the model keeps its own (freshly initialised) head.
// Each change is described in the returned notes, so nothing is adapted silently.
#pragma once

#include <string>
#include <vector>

#include "model/state_dict.h"
#include "model/vision_transformer.h"

namespace vitorch::model {

struct AdaptationOptions {
  bool resample_pos_embed = false;
  bool keep_model_head = false;
};

// Returns the state with the requested adaptations applied; `notes` receives one line per change.
NamedTensors adapt_state_dict(const VisionTransformerImpl& model, NamedTensors state, const AdaptationOptions& options,
                              std::vector<std::string>& notes);

struct ModelLoadOptions {
  bool strict = true;
  AdaptationOptions adaptation;
};

// adapt_state_dict, then load_state_dict; the report's notes say what was adapted.
LoadReport load_into_model(VisionTransformerImpl& model, NamedTensors state, const ModelLoadOptions& options);

}  // namespace vitorch::model
