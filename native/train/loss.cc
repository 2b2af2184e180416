#include "train/loss.h"

#include <torch/nn/functional/loss.h>

#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::train {

void check_labels(const torch::Tensor& labels, int64_t batch, int64_t classes) {
  if (labels.dim() != 1 || labels.size(0) != batch) {
    throw InvalidValue("expected labels of shape [" + std::to_string(batch) + "] (one per image), received " +
                       format_shape(labels.sizes()));
  }
  if (labels.scalar_type() != torch::kInt64 && labels.scalar_type() != torch::kInt32) {
    throw InvalidType(std::string("expected labels of dtype int64 or int32, received ") +
                      dtype_name(labels.scalar_type()));
  }
  if (labels.numel() == 0) return;
  const auto low = labels.min().item<int64_t>();
  const auto high = labels.max().item<int64_t>();
  if (low < 0 || high >= classes) {
    const auto bad = low < 0 ? low : high;
    const auto index = (labels == bad).nonzero().flatten()[0].item<int64_t>();
    throw InvalidValue("expected labels in [0, " + std::to_string(classes - 1) + "] (the model has " +
                       std::to_string(classes) + " classes), received " + std::to_string(bad) + " at index " +
                       std::to_string(index));
  }
}

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing,
                            bool sum) {
  namespace F = torch::nn::functional;
  if (logits.dim() != 2) {
    throw InvalidValue("expected logits of shape [N, classes], received " + format_shape(logits.sizes()));
  }
  check_labels(labels, logits.size(0), logits.size(1));
  if (label_smoothing < 0.0 || label_smoothing > 1.0) {
    throw InvalidValue("expected labelSmoothing in [0, 1], received " + std::to_string(label_smoothing));
  }
  auto options = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  if (sum) options.reduction(torch::kSum);
  // At least float32: bfloat16 or float16 logits (autocast) are widened, float64 ones kept.
  const auto dtype = at::promote_types(logits.scalar_type(), torch::kFloat32);
  return F::cross_entropy(logits.to(dtype), labels.to(torch::kInt64), options);
}

}  // namespace vitorch::train
