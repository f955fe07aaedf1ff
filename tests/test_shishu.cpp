// ShishuLM (models/shishu.cpp): layout and parameter counts, MLP-only block gradients, shared
// pairs, KV-cache decoding, training and state-dict round trips.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/model.h"
#include "models/shishu.h"
#include "nn/safetensors.h"
#include "tensor/parallel.h"
#include "tests/model_testing.h"
#include "tests/testing.h"

using namespace loupe;
using namespace loupe::models;
using namespace loupe::testing;
using nlohmann::json;

namespace {

json shishu_cfg(const std::string& parent, int64_t A, int64_t M, bool share, const std::string& dtype = "f32") {
  return {{"type", "shishu"}, {"parent", parent}, {"attn_layers", A}, {"mlp_layers", M}, {"share_pairs", share},
          {"vocab_size", 13},  {"block_size", 16},  {"n_head", 2},      {"n_embd", 16},     {"dtype", dtype}};
}

// The parameter count of one MLP-only block (norm + MLP) of the parent at width d.
int64_t mlp_block_params(const std::string& parent, int64_t d) {
  if (parent == "gpt") return d + 2 * 4 * d * d;  // ln_2 (no bias) + c_fc + c_proj
  const int64_t hidden = 64;                      // swiglu_hidden(16): 2/3·64 = 42.7 -> 64
  return d + 3 * hidden * d;                      // ffn_norm + w1, w2, w3
}

}  // namespace

TEST(Shishu, LayoutNamesAndParameterCounts) {
  for (std::string parent : {"gpt", "llama"}) {
    SCOPED_TRACE(parent);
    auto full = build_model([&] {
      json j = shishu_cfg(parent, 2, 2, false);
      j.erase("parent"), j.erase("attn_layers"), j.erase("mlp_layers"), j.erase("share_pairs");
      j["type"] = parent, j["n_layer"] = 4;
      return j;
    }());
    auto sh = build_model(shishu_cfg(parent, 2, 2, false));
    auto shp = build_model(shishu_cfg(parent, 2, 2, true));
    auto sh3 = build_model(shishu_cfg(parent, 2, 3, true));
    const int64_t d = 16, mlp = mlp_block_params(parent, d);
    const int64_t attn = parent == "gpt" ? 4 * d * d + d : 4 * d * d + d;  // c_attn + c_proj + the attention norm
    // The top two layers lose their attention; sharing then stores one of the two MLP blocks.
    EXPECT_EQ(full->num_parameters() - sh->num_parameters(), 2 * attn);
    EXPECT_EQ(sh->num_parameters() - shp->num_parameters(), mlp);
    EXPECT_EQ(sh3->num_parameters() - shp->num_parameters(), mlp);  // odd M: the fifth layer is unshared
    const std::string pfx = parent == "gpt" ? "transformer.h." : "layers.";
    const std::string ffn = parent == "gpt" ? ".mlp.c_fc.weight" : ".feed_forward.w1.weight";
    const std::string att = parent == "gpt" ? ".attn.c_attn.weight" : ".attention.c_attn.weight";
    auto sd = shp->state_dict();
    EXPECT_EQ(sd.count(pfx + "1" + att), 1u);
    EXPECT_EQ(sd.count(pfx + "2" + att), 0u);  // MLP-only
    EXPECT_EQ(sd.count(pfx + "2" + ffn), 1u);
    EXPECT_EQ(sd.count(pfx + "3" + ffn), 0u);  // stored once, under the pair's first layer
    EXPECT_EQ(sh->state_dict().count(pfx + "3" + ffn), 1u);
    // With one seed, the kept attention layers start from the parent's own initial weights.
    EXPECT_TRUE(bitwise_equal(sd.at(pfx + "1" + att), full->state_dict().at(pfx + "1" + att)));
    EXPECT_EQ(shp->forward(random_ids(2, 16, 13, 1)).shape(), (Shape{2, 16, 13}));
  }
  EXPECT_THROW(build_model(shishu_cfg("gpt2", 2, 2, false)), Error);
  json bad = shishu_cfg("gpt", 2, 2, false);
  bad["n_layer"] = 6;  // must equal attn_layers + mlp_layers
  EXPECT_THROW(build_model(bad), Error);
  bad = shishu_cfg("gpt", 0, 2, false);
  EXPECT_THROW(build_model(bad), Error);
  bad = shishu_cfg("llama", 2, 2, false);
  bad["ln_eps"] = 1e-5;  // a gpt key in a llama-parent config
  EXPECT_THROW(build_model(bad), Error);
}

TEST(Shishu, MlpOnlyBlocksGradcheck) {
  for (std::string parent : {"gpt", "llama"}) {
    SCOPED_TRACE(parent);
    json j = shishu_cfg(parent, 1, 3, true, "f64");
    j["n_embd"] = 4, j["n_head"] = 1;
    ShishuLM m(ShishuConfig::from_json(j));
    // Input gradient through an attention block, the shared pair (applied twice) and the unshared one.
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Var>& v) { return m.forward_layers(v[0], 0, 4); },
                             {rand64({2, 3, 4}, 9)}));
    // Parameter gradient of the shared pair: both applications contribute (central differences by hand).
    m.zero_grad();
    const Tensor x = rand64({2, 3, 4}, 10), w = rand64({2, 3, 4}, 11);
    auto loss = [&] { return sum(m.forward_layers(Var(x), 1, 3) * Var(w)); };
    loss().backward();
    const auto params = m.named_parameters();
    for (auto& [name, p] : params) {
      if (name.find(parent == "gpt" ? "h.1.mlp.c_fc.weight" : "layers.1.feed_forward.w1.weight") == std::string::npos)
        continue;
      const Tensor g = p.grad().clone();
      for (int64_t i : {int64_t(0), p.numel() / 2, p.numel() - 1}) {
        double* pv = p.value().data<double>() + i;
        const double orig = *pv, eps = 1e-6;
        NoGrad ng;
        *pv = orig + eps;
        const double up = loss().item();
        *pv = orig - eps;
        const double down = loss().item();
        *pv = orig;
        EXPECT_NEAR(g.data<double>()[i], (up - down) / (2 * eps), 1e-7) << name << "[" << i << "]";
      }
    }
  }
}

TEST(Shishu, SharedPairReallyShares) {
  json j = shishu_cfg("llama", 1, 2, true);
  auto m = std::dynamic_pointer_cast<ShishuLM>(build_model(j));
  ASSERT_TRUE(m);
  EXPECT_EQ(&m->layer(1), &m->layer(2));  // one module, two layers
  // Both uses feed one gradient: the shared w1's grad equals the sum of the grads the two uses
  // would get separately, which an unshared model (same weights in both layers) shows.
  j["share_pairs"] = false;
  auto u = std::dynamic_pointer_cast<ShishuLM>(build_model(j));
  auto sdm = m->state_dict();
  std::map<std::string, Tensor> sdu;
  for (auto& [n, t] : u->state_dict())  // layer 2 of the unshared model gets layer 1's weights
    sdu[n] = sdm.count(n) ? sdm.at(n) : sdm.at("layers.1" + n.substr(std::string("layers.2").size()));
  u->load_state_dict(sdu);
  const Tensor ids = random_ids(2, 8, 13, 4), targets = random_ids(2, 8, 13, 5);
  EXPECT_TRUE(bitwise_equal(m->forward(ids).value(), u->forward(ids).value()));
  for (auto* model : {m.get(), u.get()}) {
    model->zero_grad();
    cross_entropy(reshape(model->forward(ids), {-1, 13}), targets.reshape({-1})).backward();
  }
  auto grad_of = [](const LanguageModel& mm, const std::string& name) {
    for (auto& [n, p] : mm.named_parameters())
      if (n == name) return p.grad();
    return Tensor();
  };
  const std::string w1 = "layers.1.feed_forward.w1.weight", w1b = "layers.2.feed_forward.w1.weight";
  EXPECT_TRUE(all_close(grad_of(*m, w1), add(grad_of(*u, w1), grad_of(*u, w1b)), 1e-4, 1e-6));
  // One SGD step moves the single stored copy, so both layers change together.
  const Tensor before = sdm.at(w1).clone();
  {
    NoGrad ng;
    for (auto& p : m->parameters()) add_(p.mutable_value(), p.grad(), -0.1);
  }
  EXPECT_FALSE(bitwise_equal(before, m->state_dict().at(w1)));
  EXPECT_EQ(m->state_dict().count(w1b), 0u);
  // Saved and loaded back, the pair is still one set of weights.
  const std::string path = ::testing::TempDir() + "shishu_shared.safetensors";
  nn::save_safetensors(path, m->state_dict());
  j["share_pairs"] = true, j["seed"] = 7;
  auto m2 = std::dynamic_pointer_cast<ShishuLM>(build_model(j));
  m2->load_state_dict(nn::load_safetensors(path));
  EXPECT_TRUE(bitwise_equal(m->forward(ids).value(), m2->forward(ids).value()));
  EXPECT_EQ(&m2->layer(1), &m2->layer(2));
  std::filesystem::remove(path);
}

TEST(Shishu, KvCacheOnlyForAttentionLayersAndMatchesFullRecompute) {
  for (std::string parent : {"gpt", "llama"}) {
    for (bool share : {false, true}) {
      SCOPED_TRACE(parent + (share ? " shared" : ""));
      auto m = build_model(shishu_cfg(parent, 2, 3, share, "f64"));
      expect_cache_matches_full(*m, 2, 16, 7, 1e-10);
      // k and v of the 2 attention layers only: 2 layers · 2 tensors · [B, len, H, D].
      EXPECT_EQ(m->make_cache(3, 10)->bytes(), 2 * 2 * 3 * 10 * 16 * 8);
    }
  }
  auto parent = build_model({{"type", "gpt"}, {"vocab_size", 13}, {"block_size", 16}, {"n_layer", 5}, {"n_head", 2},
                             {"n_embd", 16}});
  EXPECT_EQ(parent->make_cache(3, 10)->bytes(), 5 * 2 * 3 * 10 * 16 * 4);
  auto sh = build_model(shishu_cfg("gpt", 2, 3, false));
  EXPECT_EQ(sh->make_cache(3, 10)->bytes(), 2 * 2 * 3 * 10 * 16 * 4);  // KV bytes scale with A, not L
  auto other = parent->make_cache(1, 4);
  NoGrad ng;
  EXPECT_THROW(sh->forward_cached(random_ids(1, 1, 13, 1), *other), Error);  // another model's cache
}

TEST(Shishu, LossFallsOverfittingOneBatch) {
  for (bool share : {false, true}) {
    json j = shishu_cfg("gpt", 1, 2, share);
    j["vocab_size"] = 17, j["n_embd"] = 32;
    auto m = build_model(j);
    auto [first, last] = overfit_one_batch(*m, 60, 0.5);
    EXPECT_GT(first, 2.5);
    EXPECT_LT(last, first - 1.0) << first << " -> " << last;
  }
}

TEST(Shishu, SaveLoadRoundTripGivesIdenticalLogits) {
  json j = shishu_cfg("llama", 2, 3, true);
  auto a = build_model(j);
  j["seed"] = 3;
  auto b = build_model(j);
  const Tensor ids = random_ids(2, 16, 13, 3);
  EXPECT_FALSE(bitwise_equal(a->forward(ids).value(), b->forward(ids).value()));
  b->load_state_dict(a->state_dict());
  EXPECT_TRUE(bitwise_equal(a->forward(ids).value(), b->forward(ids).value()));
  EXPECT_EQ(build_model(a->config())->num_parameters(), a->num_parameters());  // config() round-trips
}
