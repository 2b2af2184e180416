#include "model/vit_factory.h"

#include "model/checkpoint_loading.h"
#include "model/linear_init.h"

namespace vitorch::model {

VisionTransformer vit(const VitFactoryOptions& options) {
  const auto model_options = VisionTransformerOptions().input_shape(options.input_shape);
  VisionTransformer model{nullptr};
  if (options.pretrained) {
    // The strict load below overwrites every parameter, or throws and the model is never seen: drawing random
    // initial values for its Linear layers first would be wasted (linear_init.h).
    {
      const SkipLinearInit skip;
      model = VisionTransformer(model_options);
    }
    ModelLoadOptions load_options;
    load_options.strict = true;
    load_options.all_or_nothing = false;  // on failure the half-built model is discarded
    load_file_into_model(*model, *options.pretrained, load_options);
  } else {
    model = VisionTransformer(model_options);
  }
  if (options.num_classes != kPretrainedClassCount) model->replace_head(options.num_classes);
  return model;
}

}  // namespace vitorch::model
