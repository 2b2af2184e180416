#include "model/vit_factory.h"

#include "checkpoint/checkpoint_reader.h"
#include "model/state_dict.h"

namespace vitorch::model {

VisionTransformer vit(const VitFactoryOptions& options) {
  VisionTransformer model(VisionTransformerOptions().input_shape(options.input_shape));
  if (options.pretrained) {
    load_state_dict(*model, checkpoint::read_checkpoint(*options.pretrained), /*strict=*/true);
  }
  if (options.num_classes != kPretrainedClassCount) model->replace_head(options.num_classes);
  return model;
}

}  // namespace vitorch::model
