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
  // One pass over the values where they are in host memory; labels elsewhere are copied here first.
  const auto host = labels.device().is_cpu() ? labels.to(torch::kInt64).contiguous()
                                             : labels.to(torch::kCPU, torch::kInt64).contiguous();
  const auto* values = host.data_ptr<int64_t>();
  int64_t low = 0, high = 0;
  for (int64_t i = 1; i < batch; ++i) {
    if (values[i] < values[low]) low = i;
    if (values[i] > values[high]) high = i;
  }
  if (values[low] < 0 || values[high] >= classes) {
    const auto index = values[low] < 0 ? low : high;
    throw InvalidValue("expected labels in [0, " + std::to_string(classes - 1) + "] (the model has " +
                       std::to_string(classes) + " classes), received " + std::to_string(values[index]) + " at index " +
                       std::to_string(index));
  }
}

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing,
                            bool sum) {
  namespace F = torch::nn::functional;
  if (logits.dim() != 2) {
    throw InvalidValue("expected logits of shape [N, classes], received " + format_shape(logits.sizes()));
  }
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
