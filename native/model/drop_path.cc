#include "model/drop_path.h"

#include <ATen/ATen.h>

namespace vitorch::model {

torch::Tensor DropPathImpl::forward(const torch::Tensor& x) {
  if (drop_prob_ == 0.0 || !is_training()) return x;
  const double keep_prob = 1.0 - drop_prob_;
  // One draw per sample, broadcast over every other dimension: floor(keep_prob + U[0,1)) is 1 with probability
  // keep_prob.
  std::vector<int64_t> mask_shape(x.dim(), 1);
  mask_shape[0] = x.size(0);
  auto keep_mask = (at::rand(mask_shape, x.options()) + keep_prob).floor_();
  return x.div(keep_prob) * keep_mask;
}

}  // namespace vitorch::model
