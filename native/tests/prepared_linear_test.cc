// PreparedLinear against plain ATen arithmetic: the oneDNN-packed float32 and bfloat16 products against at::linear,
// and the int8 product against its definition written out in float (dequantized input times dequantized weight),
// which checks the quantization parameters as well as the kernel call.
#include "model/prepared_linear.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace vitorch::model {
namespace {

// ViT-B/16's fc1 shape with one image's 197 tokens.
constexpr int64_t kTokens = 197;
constexpr int64_t kInFeatures = 768;
constexpr int64_t kOutFeatures = 3072;

torch::nn::Linear make_layer() {
  torch::manual_seed(7);
  return torch::nn::Linear(torch::nn::LinearOptions(kInFeatures, kOutFeatures));
}

// Largest difference relative to the reference's largest magnitude.
double relative_error(const torch::Tensor& actual, const torch::Tensor& reference) {
  return (actual.to(torch::kFloat64) - reference.to(torch::kFloat64)).abs().max().item<double>() /
         reference.abs().max().item<double>();
}

// The int8 product by its definition: the input quantized with one scale and zero point from its range widened to
// include 0, the weight symmetric per output channel with scale max|w| / 127, then both dequantized and multiplied
// in float64.
torch::Tensor int8_product_by_definition(const torch::Tensor& x, const torch::nn::Linear& layer, int64_t code_max) {
  const double min = std::min(x.min().item<double>(), 0.0);
  const double max = std::max(x.max().item<double>(), 0.0);
  const double scale = (max - min) / static_cast<double>(code_max);
  const double zero_point = std::clamp(std::round(-min / scale), 0.0, static_cast<double>(code_max));
  const auto x64 = x.to(torch::kFloat64);
  const auto x_dequantized = ((x64 / scale).round() + zero_point).clamp(0, code_max).sub(zero_point).mul(scale);
  const auto w64 = layer->weight.to(torch::kFloat64);
  const auto w_scales = (w64.abs().amax(1) / 127.0).unsqueeze(1);
  const auto w_dequantized = (w64 / w_scales).round().clamp(-127, 127).mul(w_scales);
  return at::linear(x_dequantized, w_dequantized, layer->bias.to(torch::kFloat64));
}

// An input whose every element lies within 0.3 of a code of the quantization that its range gives (codes 0 and
// code_max pinned to the range's ends), so that no element sits near a rounding tie: any two correct roundings of
// it agree, and the int8 product can be compared with its definition closely.
torch::Tensor input_away_from_ties(int64_t code_max) {
  const double scale = 0.02;
  const int64_t zero_point = code_max * 2 / 5;
  auto codes = torch::randint(0, code_max + 1, {kTokens, kInFeatures}, torch::kFloat64);
  auto jitter = torch::rand({kTokens, kInFeatures}, torch::kFloat64).sub(0.5).mul(0.6);
  codes[0][0] = 0;
  codes[0][1] = static_cast<double>(code_max);
  // Nothing beyond the ends, or the range (and with it every code) would change.
  jitter.masked_fill_(codes.eq(0).logical_or(codes.eq(static_cast<double>(code_max))), 0.0);
  return codes.sub(zero_point).add(jitter).mul(scale).to(torch::kFloat32);
}

// The same for the weight: each row within 0.3 of the codes of its own scale, its first element on code 127.
void set_weight_away_from_ties(torch::nn::Linear& layer) {
  torch::NoGradGuard no_grad;
  auto codes = torch::randint(-127, 128, {kOutFeatures, kInFeatures}, torch::kFloat64);
  auto jitter = torch::rand({kOutFeatures, kInFeatures}, torch::kFloat64).sub(0.5).mul(0.6);
  codes.select(1, 0).fill_(127);
  jitter.masked_fill_(codes.abs().eq(127), 0.0);
  const auto row_scales = torch::rand({kOutFeatures, 1}, torch::kFloat64).mul(0.002).add(0.001);
  layer->weight.copy_(codes.add(jitter).mul(row_scales));
}

class PreparedLinearTest : public ::testing::Test {
 protected:
  torch::nn::Linear layer = make_layer();
};

TEST_F(PreparedLinearTest, AppliesOnlyInInferenceModeToFloat32AndBfloat16OnTheCpu) {
  const auto x = torch::randn({kTokens, kInFeatures});
  EXPECT_FALSE(PreparedLinear::applies(*layer, x));
  c10::InferenceMode inference;
  EXPECT_TRUE(PreparedLinear::applies(*layer, x));
  EXPECT_FALSE(PreparedLinear::applies(*layer, x.to(torch::kFloat64)));
  EXPECT_FALSE(PreparedLinear::applies(*layer, x.to(torch::kBFloat16)));  // the weight is float32
}

TEST_F(PreparedLinearTest, Float32EqualsLinearAndFusesGelu) {
  c10::InferenceMode inference;
  const auto x = torch::randn({2, kTokens, kInFeatures});
  PreparedLinear prepared;
  const auto expected = at::linear(x, layer->weight, layer->bias);
  const auto plain = prepared.forward(*layer, x, LinearEpilogue::kNone);
  EXPECT_EQ(plain.sizes(), expected.sizes());
  EXPECT_LT(relative_error(plain, expected), 1e-6);
  const auto with_gelu = prepared.forward(*layer, x, LinearEpilogue::kGeluTanh);
  EXPECT_LT(relative_error(with_gelu, at::gelu(expected, "tanh")), 1e-6);
  EXPECT_EQ(prepared.bytes(), kInFeatures * kOutFeatures * 4);
}

// timm's and transformers' checkpoints need the exact GELU; the fused kernel must not fall back to the tanh form.
TEST_F(PreparedLinearTest, FusesTheErfGeluInEveryPrecision) {
  set_weight_away_from_ties(layer);
  // In bfloat16 (2^-8 relative rounding) the forms are told apart where they differ most: on [-3.6, -3] the tanh
  // form is 10% to 28% smaller in magnitude (and 1 + erf is still far from float32's cancellation). An identity
  // layer puts its inputs there exactly. (Made before inference mode: its weights must track versions.)
  torch::nn::Linear identity(torch::nn::LinearOptions(kInFeatures, kInFeatures));
  {
    torch::NoGradGuard no_grad;
    identity->weight.copy_(torch::eye(kInFeatures));
    identity->bias.zero_();
  }
  identity->to(torch::kBFloat16);
  c10::InferenceMode inference;
  const auto x = input_away_from_ties(255);
  const auto product = at::linear(x, layer->weight, layer->bias);
  PreparedLinear prepared;
  const auto erf = prepared.forward(*layer, x, LinearEpilogue::kGeluErf);
  EXPECT_LT(relative_error(erf, at::gelu(product, "none")), 1e-6);
  // The two forms differ by far more than that, so the check above tells them apart.
  EXPECT_GT(relative_error(at::gelu(product, "tanh"), at::gelu(product, "none")), 1e-5);

  prepared.set_int8(Int8Options{});
  const auto int8_product = int8_product_by_definition(x, layer, 255);
  EXPECT_LT(relative_error(prepared.forward(*layer, x, LinearEpilogue::kGeluErf), at::gelu(int8_product, "none")),
            1e-5);

  const auto near = torch::linspace(-3.6, -3.0, kTokens * kInFeatures).reshape({kTokens, kInFeatures});
  const auto x16 = near.to(torch::kBFloat16);
  PreparedLinear bfloat16;
  const auto erf16 = bfloat16.forward(*identity, x16, LinearEpilogue::kGeluErf).to(torch::kFloat32);
  const auto exact = at::gelu(x16.to(torch::kFloat32), "none");
  EXPECT_LT(((erf16 - exact).abs() / exact.abs()).max().item<double>(), 1e-2);
  EXPECT_GT(((at::gelu(x16.to(torch::kFloat32), "tanh") - exact).abs() / exact.abs()).min().item<double>(), 5e-2);
}

TEST_F(PreparedLinearTest, Bfloat16EqualsLinearToItsPrecision) {
  layer->to(torch::kBFloat16);
  c10::InferenceMode inference;
  const auto x = torch::randn({kTokens, kInFeatures}).to(torch::kBFloat16);
  PreparedLinear prepared;
  const auto output = prepared.forward(*layer, x, LinearEpilogue::kNone);
  EXPECT_EQ(output.scalar_type(), torch::kBFloat16);
  // bfloat16 keeps 8 significant bits: its rounding of the output is 2^-8 relative.
  EXPECT_LT(relative_error(output, at::linear(x, layer->weight, layer->bias)), 1e-2);
}

TEST_F(PreparedLinearTest, Int8EqualsItsDefinitionInFullAndReducedRange) {
  set_weight_away_from_ties(layer);
  c10::InferenceMode inference;
  for (const bool reduce_range : {false, true}) {
    SCOPED_TRACE(reduce_range ? "7-bit inputs" : "8-bit inputs");
    const auto x = input_away_from_ties(reduce_range ? 127 : 255);
    PreparedLinear prepared;
    prepared.set_int8(Int8Options{reduce_range});
    const auto output = prepared.forward(*layer, x, LinearEpilogue::kNone);
    EXPECT_EQ(output.scalar_type(), torch::kFloat32);
    // int32 accumulation is exact; what remains is float32 rounding of the scaled sums.
    EXPECT_LT(relative_error(output, int8_product_by_definition(x, layer, reduce_range ? 127 : 255)), 1e-5);
    // And it is an approximation of the float32 product: int8 keeps about 2 significant digits.
    EXPECT_LT(relative_error(output, at::linear(x, layer->weight, layer->bias)), 2e-2);
    EXPECT_EQ(prepared.bytes(), kInFeatures * kOutFeatures + kOutFeatures * (4 + 8));
  }
}

TEST_F(PreparedLinearTest, Int8FusesGelu) {
  set_weight_away_from_ties(layer);
  c10::InferenceMode inference;
  const auto x = input_away_from_ties(255);
  PreparedLinear prepared;
  prepared.set_int8(Int8Options{});
  const auto expected = at::gelu(int8_product_by_definition(x, layer, 255), "tanh");
  EXPECT_LT(relative_error(prepared.forward(*layer, x, LinearEpilogue::kGeluTanh), expected), 1e-5);
}

TEST_F(PreparedLinearTest, NonFiniteInputsFallBackToFloat32Arithmetic) {
  c10::InferenceMode inference;
  auto x = torch::randn({kTokens, kInFeatures});
  x[3][5] = std::nan("");
  PreparedLinear prepared;
  prepared.set_int8(Int8Options{});
  const auto output = prepared.forward(*layer, x, LinearEpilogue::kNone);
  EXPECT_TRUE(output[3].isnan().all().item<bool>());
  EXPECT_FALSE(output[4].isnan().any().item<bool>());
}

TEST_F(PreparedLinearTest, RepreparesWhenTheWeightChanges) {
  const auto x = torch::randn({kTokens, kInFeatures});
  for (const bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8" : "float32");
    auto fresh = make_layer();
    PreparedLinear prepared;
    if (int8) prepared.set_int8(Int8Options{});
    torch::Tensor before;
    {
      c10::InferenceMode inference;
      before = prepared.forward(*fresh, x, LinearEpilogue::kNone);
    }
    {
      // As an optimizer step does: in place, outside inference mode, bumping the version.
      torch::NoGradGuard no_grad;
      fresh->weight.mul_(-2.0);
    }
    c10::InferenceMode inference;
    const auto after = prepared.forward(*fresh, x, LinearEpilogue::kNone);
    const auto expected = at::linear(x, fresh->weight, fresh->bias);
    EXPECT_LT(relative_error(after, expected), int8 ? 2e-2 : 1e-6);
    EXPECT_GT(relative_error(before, expected), 0.5);
  }
}

TEST_F(PreparedLinearTest, SwitchingPrecisionFreesTheOtherCopy) {
  c10::InferenceMode inference;
  const auto x = torch::randn({kTokens, kInFeatures});
  PreparedLinear prepared;
  prepared.forward(*layer, x, LinearEpilogue::kNone);
  EXPECT_EQ(prepared.bytes(), kInFeatures * kOutFeatures * 4);
  prepared.set_int8(Int8Options{});
  EXPECT_EQ(prepared.bytes(), 0);
  prepared.forward(*layer, x, LinearEpilogue::kNone);
  EXPECT_TRUE(prepared.int8());
  EXPECT_LT(prepared.bytes(), kInFeatures * kOutFeatures * 2);
  prepared.set_int8(std::nullopt);
  EXPECT_EQ(prepared.bytes(), 0);
  EXPECT_LT(
      relative_error(prepared.forward(*layer, x, LinearEpilogue::kNone), at::linear(x, layer->weight, layer->bias)),
      1e-6);
}

}  // namespace
}  // namespace vitorch::model
