// The classification loss of training: cross-entropy over logits [N, C] and class indices [N], with optional
// label smoothing (PyTorch's definition: the target is (1 - s) one-hot + s / C).
#pragma once

#include <torch/types.h>

namespace vitorch::train {

// Throws InvalidValue / InvalidType naming what was expected when the shapes, dtypes or label values are wrong,
// before anything is computed (an out-of-range label would otherwise be an opaque libtorch error). Reads the values
// where they are: call it on the labels as the caller handed them over (host memory), before they go to the model's
// device, so that checking never waits for a GPU.
void check_labels(const torch::Tensor& labels, int64_t batch, int64_t classes);

// Mean (or, with sum = true, summed) cross-entropy, computed in float32 or wider whatever the logits' dtype.
// `labels` are class indices already checked by check_labels, on the logits' device.
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing,
                            bool sum = false);

}  // namespace vitorch::train
