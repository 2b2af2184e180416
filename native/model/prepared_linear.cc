#include "model/prepared_linear.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace vitorch::model {
namespace {

// The kernels are called boxed, by schema name: their C++ signatures are not in the wheel's headers, and the
// schemas are the same in every libtorch vitorch supports (2.9 to 2.15).
std::optional<c10::OperatorHandle> find_operator(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

struct Kernels {
  std::optional<c10::OperatorHandle> reorder_float32_weight = find_operator("mkldnn::_reorder_linear_weight");
  std::optional<c10::OperatorHandle> float32_linear = find_operator("mkldnn::_linear_pointwise");
  std::optional<c10::OperatorHandle> prepack_int8_weight = find_operator("onednn::qlinear_prepack");
  std::optional<c10::OperatorHandle> int8_linear = find_operator("onednn::qlinear_pointwise");

  bool present() const {
    return at::hasMKLDNN() && reorder_float32_weight && float32_linear && prepack_int8_weight && int8_linear;
  }
};

// Looked up once, at the first use.
const Kernels& kernels() {
  static const Kernels found;
  return found;
}

torch::Tensor call(const c10::OperatorHandle& op, torch::jit::Stack stack) {
  op.callBoxed(&stack);
  return stack.front().toTensor();
}

c10::IValue optional_tensor(const torch::Tensor& tensor) {
  return tensor.defined() ? c10::IValue(tensor) : c10::IValue();
}

// PyTorch 2.15 warns that quantized tensor types are deprecated; vitorch's int8 path only uses
// quantize_per_tensor's vectorised uint8 conversion, whose result it reads as a plain uint8 tensor.
class SilentWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

// x -> uint8 codes q with x ~ scale * (q - zero_point): one scale for the whole tensor, from its range widened to
// include 0 (PyTorch's dynamic quantization's choice, so that zero padding stays exact).
struct QuantizedRows {
  torch::Tensor codes;
  double scale;
  int64_t zero_point;
};

std::optional<QuantizedRows> quantize_rows(const torch::Tensor& rows, bool reduce_range) {
  const auto [low, high] = at::aminmax(rows);
  const double min = std::min(low.item<double>(), 0.0);
  const double max = std::max(high.item<double>(), 0.0);
  if (!std::isfinite(min) || !std::isfinite(max)) return std::nullopt;
  const int64_t code_max = reduce_range ? 127 : 255;
  double scale = (max - min) / static_cast<double>(code_max);
  // All zeros: any scale represents them exactly.
  if (scale == 0.0 || !std::isfinite(scale)) scale = 1.0;
  const auto zero_point = std::clamp<int64_t>(std::llround(-min / scale), 0, code_max);
  static SilentWarnings silent;
  c10::WarningUtils::WarningHandlerGuard quiet(&silent);
  auto quantized = at::quantize_per_tensor(rows, scale, zero_point, at::kQUInt8);
  void* data = quantized.data_ptr();
  auto codes = at::from_blob(
      data, rows.sizes(), [keep = std::move(quantized)](void*) mutable { keep.reset(); },
      at::TensorOptions().dtype(at::kByte));
  return QuantizedRows{std::move(codes), scale, zero_point};
}

// oneDNN's name for the GELU form in the pointwise kernels' `algorithm` argument ("none" is the erf form), or
// nullopt without an activation.
std::optional<std::string> gelu_algorithm(LinearEpilogue epilogue) {
  switch (epilogue) {
    case LinearEpilogue::kGeluTanh: return "tanh";
    case LinearEpilogue::kGeluErf: return "none";
    case LinearEpilogue::kNone: break;
  }
  return std::nullopt;
}

}  // namespace

LinearEpilogue gelu_epilogue(Activation activation) {
  return activation == Activation::kGelu ? LinearEpilogue::kGeluErf : LinearEpilogue::kGeluTanh;
}

bool PreparedLinear::applies(const torch::nn::LinearImpl& linear, const torch::Tensor& x) {
  static const bool kernels_present = kernels().present();
  const auto dtype = x.scalar_type();
  return kernels_present && c10::InferenceMode::is_enabled() && x.device().is_cpu() &&
         (dtype == torch::kFloat32 || dtype == torch::kBFloat16) && linear.weight.device().is_cpu() &&
         linear.weight.scalar_type() == dtype;
}

void PreparedLinear::set_int8(std::optional<Int8Options> int8) {
  const bool changed =
      int8.has_value() != int8_.has_value() || (int8 && int8_ && int8->reduce_range != int8_->reduce_range);
  int8_ = int8;
  // Repacked at the next forward, in the new form; the old copy is freed now.
  if (changed) release();
}

void PreparedLinear::release() {
  packed_ = torch::Tensor();
  weight_scales_ = torch::Tensor();
  weight_zero_points_ = torch::Tensor();
  bytes_ = 0;
  source_ = {};
  source_version_ = -1;
}

void PreparedLinear::prepare(const torch::nn::LinearImpl& linear) {
  const auto& weight = linear.weight;
  const bool fresh = packed_.defined() && packed_int8_ == int8_.has_value() &&
                     source_.unsafeGetStorageImpl() == weight.storage().unsafeGetStorageImpl() &&
                     source_version_ == weight._version();
  if (fresh) return;
  packed_ = torch::Tensor();
  if (int8_) {
    // Symmetric per output channel over [-127, 127]: scale = max |w| / 127, never below float32's epsilon. (PyTorch's
    // per-channel observer divides by 127.5 and lets -128 in; then a row's largest negative weight lands on the tie
    // -127.5, which float rounding sends either way.)
    const auto scales =
        (weight.abs().amax(1) / 127.0).clamp_min(static_cast<double>(std::numeric_limits<float>::epsilon()));
    const auto codes = (weight / scales.unsqueeze(1)).round_().clamp_(-127, 127).to(torch::kChar);
    packed_ = call(*kernels().prepack_int8_weight, {codes, c10::IValue()});
    weight_scales_ = scales.contiguous();
    weight_zero_points_ = torch::zeros({weight.size(0)}, torch::kLong);
    bytes_ = weight.numel() + weight_scales_.nbytes() + weight_zero_points_.nbytes();
  } else {
    packed_ = call(*kernels().reorder_float32_weight, {weight, c10::IValue()});
    bytes_ = weight.numel() * static_cast<int64_t>(weight.element_size());
  }
  packed_int8_ = int8_.has_value();
  source_ = weight.storage();
  source_version_ = weight._version();
}

torch::Tensor PreparedLinear::forward_floating(const torch::Tensor& rows, const torch::Tensor& bias,
                                               LinearEpilogue epilogue) const {
  const auto algorithm = gelu_algorithm(epilogue);
  return call(*kernels().float32_linear,
              {rows, packed_, optional_tensor(bias), std::string(algorithm ? "gelu" : "none"),
               c10::List<std::optional<at::Scalar>>(), algorithm ? c10::IValue(*algorithm) : c10::IValue()});
}

torch::Tensor PreparedLinear::forward_int8(const torch::nn::LinearImpl& linear, const torch::Tensor& rows,
                                           LinearEpilogue epilogue) const {
  const auto algorithm = gelu_algorithm(epilogue);
  auto quantized = quantize_rows(rows, int8_->reduce_range);
  if (!quantized) {
    // Inf or NaN in the input has no int8 code: the float32 arithmetic carries it through as PyTorch would.
    auto output = at::linear(rows, linear.weight, linear.bias);
    // at::gelu's `approximate` and oneDNN's `algorithm` name the forms alike ("none" or "tanh").
    return algorithm ? at::gelu_(output, *algorithm) : output;
  }
  return call(
      *kernels().int8_linear,
      {quantized->codes, quantized->scale, quantized->zero_point, packed_, weight_scales_, weight_zero_points_,
       optional_tensor(linear.bias), 1.0, int64_t{0}, c10::IValue(torch::kFloat32),
       std::string(algorithm ? "gelu" : "none"), c10::List<std::optional<at::Scalar>>(), algorithm.value_or("")});
}

torch::Tensor PreparedLinear::forward(const torch::nn::LinearImpl& linear, const torch::Tensor& x,
                                      LinearEpilogue epilogue) {
  prepare(linear);
  const auto in_features = x.size(-1);
  auto rows = x.reshape({-1, in_features}).contiguous();
  auto output = int8_ ? forward_int8(linear, rows, epilogue) : forward_floating(rows, linear.bias, epilogue);
  auto shape = x.sizes().vec();
  shape.back() = output.size(-1);
  return output.view(shape);
}

}  // namespace vitorch::model
