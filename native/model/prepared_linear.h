// A Linear layer's weight prepared for inference on the CPU, in the layouts libtorch's oneDNN kernels multiply
// fastest, beside the float32 parameters it is made from (which stay the module's state, for state_dict, training and
// saving):
//   float32 and bfloat16: oneDNN's blocked copy of the weight (mkldnn::_reorder_linear_weight, multiplied by
//            mkldnn::_linear_pointwise). At ViT's 197 rows per image it is faster than libtorch's linear on the plain
//            layout (ViT-B/16's four block GEMMs, 2 threads, AVX-512 Zen 5, batch 1: float32 5.4 ms against MKL's
//            7.2 ms, 1.3x; bfloat16 2.75 ms against 3.11 ms, 1.13x).
//   int8:    dynamic quantization: the weight in int8 with one scale per output channel (symmetric, codes in
//            [-127, 127]); each call quantizes its input to uint8 with one scale and zero
//            point for the whole batch, as PyTorch's quantize_dynamic does, and multiplies with
//            onednn::qlinear_pointwise (the int8 kernel of PyTorch's x86 quantization backend), which also applies GELU
//            in the same pass. Measured against the quantized::linear_dynamic engines (fbgemm, x86, onednn) on the same
//            four GEMMs (bench/README.md, int8), it was the fastest at batch 1 and 8, and it works on plain uint8/int8
//            tensors.
// The prepared copy is made when first needed and remade when the Linear's parameters change (load_state_dict, an
// optimizer step and to() each give them a new version or storage).
#pragma once

#include <c10/core/Storage.h>
#include <torch/nn/modules/linear.h>

#include <optional>

#include "model/gelu.h"

namespace vitorch::model {

// Applied to the Linear's output inside the same kernel call.
enum class LinearEpilogue { kNone, kGeluTanh, kGeluErf };

// The epilogue that computes an MLP's activation.
LinearEpilogue gelu_epilogue(Activation activation);

struct Int8Options {
  // Quantize inputs to 7 bits ([0, 127]). CPUs without VNNI multiply uint8 by int8 with vpmaddubsw, whose int16
  // pair sums saturate for full-range inputs; PyTorch's fbgemm and x86 backends reduce the range there for the same
  // reason.
  bool reduce_range = false;
};

class PreparedLinear {
 public:
  // True where the prepared forms can compute linear(x): in inference mode, a float32 or bfloat16 CPU input and
  // weight of the same dtype, and a libtorch built with oneDNN.
  static bool applies(const torch::nn::LinearImpl& linear, const torch::Tensor& x);

  // linear(x) followed by the epilogue. Only where applies() is true.
  torch::Tensor forward(const torch::nn::LinearImpl& linear, const torch::Tensor& x, LinearEpilogue epilogue);

  // From the next forward on, compute in int8 (or in float32 again when nullopt).
  void set_int8(std::optional<Int8Options> int8);
  bool int8() const { return int8_.has_value(); }

  // Frees the prepared copy (remade at the next forward that applies).
  void release();

  // Host memory held by the prepared copy (0 before the first forward).
  int64_t bytes() const { return bytes_; }

 private:
  void prepare(const torch::nn::LinearImpl& linear);
  torch::Tensor forward_floating(const torch::Tensor& rows, const torch::Tensor& bias, LinearEpilogue epilogue) const;
  torch::Tensor forward_int8(const torch::nn::LinearImpl& linear, const torch::Tensor& rows,
                             LinearEpilogue epilogue) const;

  std::optional<Int8Options> int8_;
  // The weight in oneDNN's layout: the weight's own dtype, or int8 with weight_scales_ / weight_zero_points_.
  torch::Tensor packed_;
  torch::Tensor weight_scales_;
  torch::Tensor weight_zero_points_;
  int64_t bytes_ = 0;
  // What packed_ was made from; holding the storage keeps its address from being reused by another tensor.
  c10::Storage source_;
  int64_t source_version_ = -1;
  bool packed_int8_ = false;
};

}  // namespace vitorch::model
