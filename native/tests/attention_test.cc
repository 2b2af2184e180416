// The core's attention maps and rollout (model/attention_maps.h, model/attention_rollout.h): the rollout's steps on
// small matrices worked out by hand, and the maps' invariants on a small model. test/attention.test.ts compares both
// with PyTorch.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>

#include "common/errors.h"
#include "model/attention_maps.h"
#include "model/attention_rollout.h"

namespace vitorch::model {
namespace {

// One block, one head, three tokens (the class token and a 1x2 grid of patches).
torch::Tensor three_token_map() {
  return torch::tensor({0.1F, 0.6F, 0.3F, 0.2F, 0.5F, 0.3F, 0.7F, 0.2F, 0.1F}).reshape({1, 1, 3, 3});
}

TEST(AttentionRollout, DiscardsTheLowestOfEachRowButTheClassTokensColumn) {
  // int((3 - 1) * 0.5) = 1 entry per row, among columns 1 and 2: 0.3 at [0, 2], 0.3 at [1, 2], 0.1 at [2, 2]. Row 0's
  // lowest entry, 0.1 at [0, 0], is kept: column 0 never competes. Row 0 becomes [0.55, 0.3, 0] after (A + I) / 2, so
  // the patches divided by their maximum read [1, 0]. (vit-explain's whole-matrix rule would drop 4 of the 9 entries,
  // none of them in row 0, and give [1, 0.5].)
  const auto rollout = attention_rollout({three_token_map()}, {1, 2},
                                         RolloutOptions().head_fusion(HeadFusion::kMean).discard_ratio(0.5));
  ASSERT_EQ(rollout.sizes(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_TRUE(torch::allclose(rollout, torch::tensor({1.0F, 0.0F}).reshape({1, 1, 2})));
}

TEST(AttentionRollout, RenormalisesRowsAndMultipliesThroughTheBlocks) {
  // One entry dropped per row (int(2 * 0.5)), each row's lowest of columns 1 and 2, written out by hand: the first
  // block drops columns 2, 1, 2 of rows 0, 1, 2; the second 1, 2, 1 (there row 0's 0.2 at column 0 ties the dropped
  // 0.2 and row 1's 0.05 at column 0 is its lowest: both kept). Every row ends short of 1, and the second block's row
  // 0 weighs the first block's rows: row renormalisation shows in the result. Expected: row 0 of B2 B1, B = (A with
  // the entries dropped + I) / 2 divided by its row sums, in plain ATen.
  const auto first = torch::tensor({0.5F, 0.3F, 0.2F, 0.25F, 0.15F, 0.6F, 0.35F, 0.45F, 0.2F}).reshape({1, 1, 3, 3});
  const auto second = torch::tensor({0.2F, 0.2F, 0.6F, 0.05F, 0.8F, 0.15F, 0.3F, 0.3F, 0.4F}).reshape({1, 1, 3, 3});
  auto step = [](const torch::Tensor& map, std::array<int64_t, 3> dropped) {
    auto a = map[0][0].clone();
    for (int64_t row = 0; row < 3; ++row) a[row][dropped[row]] = 0;
    a = (a + torch::eye(3)) / 2;
    return a / a.sum(-1, /*keepdim=*/true);
  };
  const auto flow = torch::matmul(step(second, {1, 2, 1}), step(first, {2, 1, 2}));
  const auto expected = flow[0].narrow(0, 1, 2) / flow[0].narrow(0, 1, 2).max();
  const auto rollout = attention_rollout({first, second}, {1, 2}, RolloutOptions().discard_ratio(0.5));
  EXPECT_TRUE(torch::allclose(rollout.flatten(), expected));
}

TEST(AttentionRollout, CountsFromTheRowsPatchesAndBreaksTiesByColumn) {
  // Four tokens (a 1x3 grid); row 0 attends 0.1 to itself and 0.3 to each patch, so the patches tie. Only row 0
  // matters with one block. The count is int(3 * ratio): 0 for 0.3, 1 for 0.5, 2 for 0.7; of the tied patches the
  // lowest columns go first. Row 0 after (A + I) / 2 is [0.55, 0.15, 0.15, 0.15] with the dropped ones at 0.
  const auto map = torch::tensor({0.1F, 0.3F, 0.3F, 0.3F,  //
                                  0.F, 1.F, 0.F, 0.F,      //
                                  0.F, 0.F, 1.F, 0.F,      //
                                  0.F, 0.F, 0.F, 1.F})
                       .reshape({1, 1, 4, 4});
  auto patches = [&](double ratio) {
    return attention_rollout({map}, {1, 3}, RolloutOptions().discard_ratio(ratio)).flatten();
  };
  EXPECT_TRUE(torch::allclose(patches(0.3), torch::tensor({1.0F, 1.0F, 1.0F})));
  EXPECT_TRUE(torch::equal(patches(0.5), torch::tensor({0.0F, 1.0F, 1.0F})));
  EXPECT_TRUE(torch::equal(patches(0.7), torch::tensor({0.0F, 0.0F, 1.0F})));
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
