// The core's attention maps and rollout (model/attention_maps.h, model/attention_rollout.h): the rollout's steps on
// small matrices worked out by hand, and the maps' invariants on a small model. test/attention.test.ts compares both
// with PyTorch.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "model/attention_maps.h"
#include "model/attention_rollout.h"

namespace vitorch::model {
namespace {

// One block, one head, three tokens (the class token and a 1x2 grid of patches).
torch::Tensor three_token_map() {
  return torch::tensor({0.1F, 0.6F, 0.3F, 0.2F, 0.5F, 0.3F, 0.7F, 0.2F, 0.1F}).reshape({1, 1, 3, 3});
}

TEST(AttentionRollout, DiscardsTheLowestOfTheWholeMatrixButTheClassTokensOwn) {
  // int(9 * 0.5) = 4 lowest: 0.1 at [0, 0] (kept), 0.1 at [2, 2], 0.2 at [1, 0] and [2, 1]. Row 0 is untouched, so
  // after (A + I) / 2 it reads [0.55, 0.3, 0.15] (sum 1): the patches 0.3 and 0.15, divided by their maximum.
  const auto rollout = attention_rollout({three_token_map()}, {1, 2},
                                         RolloutOptions().head_fusion(HeadFusion::kMean).discard_ratio(0.5));
  ASSERT_EQ(rollout.sizes(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_TRUE(torch::allclose(rollout, torch::tensor({1.0F, 0.5F}).reshape({1, 1, 2})));
}

TEST(AttentionRollout, RenormalisesRowsAndMultipliesThroughTheBlocks) {
  // Two blocks whose lowest entry is unique and off [0, 0]: 0.15 at [1, 2], then 0.05 at [1, 0]. Dropping it leaves
  // row 1 short of 1, and the second block's row 0 weighs the first block's row 1: row renormalisation shows in the
  // result. Expected: row 0 of B2 B1, B = (A with the entry dropped + I) / 2 divided by its row sums, in plain ATen.
  const auto first = torch::tensor({0.5F, 0.3F, 0.2F, 0.25F, 0.6F, 0.15F, 0.35F, 0.45F, 0.2F}).reshape({1, 1, 3, 3});
  const auto second = torch::tensor({0.2F, 0.2F, 0.6F, 0.05F, 0.8F, 0.15F, 0.3F, 0.3F, 0.4F}).reshape({1, 1, 3, 3});
  auto step = [](const torch::Tensor& map, int64_t row, int64_t column) {
    auto a = map[0][0].clone();
    a[row][column] = 0;
    a = (a + torch::eye(3)) / 2;
    return a / a.sum(-1, /*keepdim=*/true);
  };
  const auto flow = torch::matmul(step(second, 1, 0), step(first, 1, 2));
  const auto expected = flow[0].narrow(0, 1, 2) / flow[0].narrow(0, 1, 2).max();
  // int(9 * ratio) = 1 entry dropped per block.
  const auto rollout = attention_rollout({first, second}, {1, 2}, RolloutOptions().discard_ratio(1.0 / 9.0 + 1e-9));
  EXPECT_TRUE(torch::allclose(rollout.flatten(), expected));
}

TEST(AttentionRollout, FusesHeadsByMeanMaxOrMin) {
  // Two heads; token 0 attends to the patches [0.2, 0.4] in one and [0.6, 0.1] in the other.
  auto map = torch::tensor({0.4F, 0.2F, 0.4F, 0.F, 1.F, 0.F, 0.F, 0.F, 1.F,  //
                            0.3F, 0.6F, 0.1F, 0.F, 1.F, 0.F, 0.F, 0.F, 1.F})
                 .reshape({1, 2, 3, 3});
  auto patches = [&](HeadFusion fusion) {
    return attention_rollout({map}, {1, 2}, RolloutOptions().head_fusion(fusion).discard_ratio(0.0)).flatten();
  };
  // Row 0 fused: mean [0.35, 0.4, 0.25], max [0.4, 0.6, 0.4] (sum 1.4), min [0.3, 0.2, 0.1] (sum 0.6); after
  // (A + I) / 2 and renormalising, the patch entries keep their ratio to each other.
  EXPECT_TRUE(torch::allclose(patches(HeadFusion::kMean), torch::tensor({1.0F, 0.625F})));
  EXPECT_TRUE(torch::allclose(patches(HeadFusion::kMax), torch::tensor({1.0F, 0.4F / 0.6F})));
  EXPECT_TRUE(torch::allclose(patches(HeadFusion::kMin), torch::tensor({1.0F, 0.5F})));
}

TEST(AttentionRollout, TreatsEveryImageOfABatchAlike) {
  const auto one = three_token_map();
  const auto options = RolloutOptions().discard_ratio(0.5);
  const auto single = attention_rollout({one}, {1, 2}, options);
  const auto batch = attention_rollout({torch::cat({one, one})}, {1, 2}, options);
  EXPECT_TRUE(torch::equal(batch[0], single[0]));
  EXPECT_TRUE(torch::equal(batch[1], single[0]));
}

TEST(AttentionRollout, RefusesWhatDoesNotFit) {
  EXPECT_THROW(attention_rollout({three_token_map()}, {2, 2}), InvalidValue);
  EXPECT_THROW(attention_rollout({}, {1, 2}), InvalidValue);
  EXPECT_THROW(attention_rollout({three_token_map()}, {1, 2}, RolloutOptions().discard_ratio(1.0)), InvalidValue);
  EXPECT_THROW(attention_rollout({three_token_map().to(torch::kInt32)}, {1, 2}), InvalidType);
  EXPECT_EQ(head_fusion_from_name("avg"), std::nullopt);
}

VisionTransformer small_model() {
  torch::manual_seed(3);
  auto model = VisionTransformer(
      VisionTransformerOptions().input_shape({32, 48}).num_features(32).depth(2).num_heads(4).num_classes(5));
  model->eval();
  return model;
}

TEST(AttentionMaps, OneSoftmaxPerRowPerHeadPerBlock) {
  auto model = small_model();
  const auto images = torch::randn({2, 3, 32, 48});
  const auto maps = attention_maps(*model, images);
  ASSERT_EQ(maps.size(), 2U);
  for (const auto& map : maps) {
    // A 2x3 grid and the class token: T = 7.
    EXPECT_EQ(map.sizes(), (std::vector<int64_t>{2, 4, 7, 7}));
    EXPECT_EQ(map.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::allclose(map.sum(-1), torch::ones({2, 4, 7})));
  }
  const auto rollout = attention_rollout(*model, images, RolloutOptions());
  EXPECT_EQ(rollout.sizes(), (std::vector<int64_t>{2, 2, 3}));
}

TEST(AttentionMaps, ABfloat16ModelGivesFloat32Maps) {
  auto model = small_model();
  const auto images = torch::randn({1, 3, 32, 48});
  const auto reference = attention_maps(*model, images);
  model->to(torch::kBFloat16);
  const auto maps = attention_maps(*model, images.to(torch::kBFloat16));
  for (size_t i = 0; i < maps.size(); ++i) {
    EXPECT_EQ(maps[i].scalar_type(), torch::kFloat32);
    EXPECT_LT((maps[i] - reference[i]).abs().max().item<float>(), 3e-2F);
  }
}

TEST(AttentionMaps, RefusesTrainingMode) {
  auto model = small_model();
  model->train();
  EXPECT_THROW(attention_maps(*model, torch::randn({1, 3, 32, 48})), InvalidValue);
}

}  // namespace
}  // namespace vitorch::model
