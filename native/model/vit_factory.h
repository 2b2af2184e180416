// The seed's vit(): a VisionTransformer with every default but input_shape, built with 1000 classes so that an
// ImageNet checkpoint loads strictly, then given a fresh head when another class count is asked for.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/vision_transformer.h"

namespace vitorch::model {

// The class count of the checkpoints the seed's vit() loads.
constexpr int64_t kPretrainedClassCount = 1000;

struct VitFactoryOptions {
  std::vector<int64_t> input_shape{224, 224};
  // A torch.save'd state_dict of the 1000-class model; none: random initialisation.
  std::optional<std::string> pretrained;
  int64_t num_classes = kPretrainedClassCount;
};

VisionTransformer vit(const VitFactoryOptions& options);

}  // namespace vitorch::model
