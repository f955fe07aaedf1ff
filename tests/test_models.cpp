// The gpt and llama models end to end: shapes and parameter names, a loss that
// falls when overfitting one batch, save/load round trips, thread-count
// determinism, config errors (KV-cache decoding against recomputation: tests/test_registry.cpp,
// for every model type).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "autograd/ops.h"
#include "models/model.h"
#include "nn/safetensors.h"
#include "optim/adam.h"
#include "tensor/parallel.h"
#include "tests/model_testing.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::bitwise_equal;
using loupe::testing::random_ids;
using nlohmann::json;

namespace {

json tiny(const std::string& type) {
  json c = {{"type", type}, {"vocab_size", 13}, {"block_size", 16}, {"n_layer", 2}, {"n_head", 2}, {"n_embd", 16}};
  if (type == "gpt") c["bias"] = true;
  if (type == "llama") c["n_kv_head"] = 1;  // grouped-query
  return c;
}

Var loss_of(models::LanguageModel& m, const Tensor& x, const Tensor& y) {
  Var logits = m.forward(x);
  return cross_entropy(reshape(logits, {-1, m.vocab_size()}), y.reshape({-1}));
}

}  // namespace

class Models : public ::testing::TestWithParam<std::string> {};

TEST_P(Models, LogitShapeAndRegistry) {
  auto m = models::build_model(tiny(GetParam()));
  Var logits = m->forward(random_ids(3, 5, 13, 1));
  EXPECT_EQ(logits.shape(), (Shape{3, 5, 13}));
  EXPECT_EQ(m->vocab_size(), 13);
  EXPECT_EQ(m->block_size(), 16);
  // The saved config rebuilds an identical model.
  auto m2 = models::build_model(m->config());
  EXPECT_EQ(m2->config(), m->config());
  EXPECT_TRUE(bitwise_equal(m2->forward(random_ids(3, 5, 13, 1)).value(), logits.value()));
}

TEST_P(Models, LossFallsWhenOverfittingOneBatch) {
  auto m = models::build_model(tiny(GetParam()));
  Tensor ids = random_ids(4, 17, 13, 2);
  Tensor x = ids.narrow(1, 0, 16).contiguous(), y = ids.narrow(1, 1, 16).contiguous();
  optim::ParamGroup g;
  g.params = m->named_parameters();
  optim::AdamW opt({g});
  opt.set_lr(1e-2);
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Var loss = loss_of(*m, x, y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  EXPECT_NEAR(first, std::log(13.0), 0.1);  // small init: near-uniform predictions
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST_P(Models, SaveLoadRoundTripGivesIdenticalLogits) {
  auto m = models::build_model(tiny(GetParam()));
  const std::string path = ::testing::TempDir() + "loupe_model_" + GetParam() + ".safetensors";
  nn::save_safetensors(path, m->state_dict(), {{"config", m->config().dump()}});
  std::map<std::string, std::string> meta;
  auto sd = nn::load_safetensors(path, &meta);
  json cfg = json::parse(meta.at("config"));
  cfg["seed"] = 999;  // different initial weights, then overwritten by the load
  auto m2 = models::build_model(cfg);
  Tensor ids = random_ids(2, 9, 13, 3);
  EXPECT_FALSE(bitwise_equal(m2->forward(ids).value(), m->forward(ids).value()));
  m2->load_state_dict(sd);
  EXPECT_TRUE(bitwise_equal(m2->forward(ids).value(), m->forward(ids).value()));
  std::remove(path.c_str());
}

TEST_P(Models, OneAndTwoThreadsBitwiseEqual) {
  json c = tiny(GetParam());
  c["n_embd"] = 64, c["n_head"] = 4, c["block_size"] = 40, c["dropout"] = 0.1;
  if (GetParam() == "llama") c["n_kv_head"] = 2;
  Tensor ids = random_ids(5, 41, 13, 4);
  Tensor x = ids.narrow(1, 0, 40).contiguous(), y = ids.narrow(1, 1, 40).contiguous();
  Tensor logits[2];
  std::map<std::string, Tensor> grads[2];
  for (int n : {1, 2}) {
    set_num_threads(n);
    set_step(5, 0);  // the dropout masks of step 0 of a run with seed 5
    auto m = models::build_model(c);
    Var lg = m->forward(x);
    Var loss = cross_entropy(reshape(lg, {-1, 13}), y.reshape({-1}));
    loss.backward();
    logits[n - 1] = lg.value();
    for (auto& [name, p] : m->named_parameters()) grads[n - 1][name] = p.grad();
  }
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(logits[0], logits[1]));
  for (auto& [name, g] : grads[0]) EXPECT_TRUE(bitwise_equal(g, grads[1][name])) << name;
}

TEST_P(Models, DropoutOnlyInTraining) {
  json c = tiny(GetParam());
  c["dropout"] = 0.2;
  auto m = models::build_model(c);
  Tensor ids = random_ids(2, 8, 13, 6);
  Tensor a = m->forward(ids).value(), b = m->forward(ids).value();
  EXPECT_FALSE(bitwise_equal(a, b));  // a fresh mask per call
  m->eval();
  EXPECT_TRUE(bitwise_equal(m->forward(ids).value(), m->forward(ids).value()));
}

INSTANTIATE_TEST_SUITE_P(GptAndLlama, Models, ::testing::Values("gpt", "llama"));

TEST(Gpt, NanoGptParameterNamesAndCount) {
  json c = tiny("gpt");
  auto m = models::build_model(c);
  std::set<std::string> names;
  for (auto& [n, p] : m->named_parameters()) names.insert(n);
  for (const char* n : {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                        "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
                        "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight",
                        "transformer.h.1.ln_2.weight", "transformer.h.1.mlp.c_fc.weight",
                        "transformer.h.1.mlp.c_proj.weight", "transformer.ln_f.weight", "transformer.ln_f.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("lm_head.weight"));  // tied to wte
  // nanoGPT's count: per layer 12 C² + 13 C (with biases), + (V + block) C + 2C.
  const int64_t C = 16, V = 13, L = 2, BS = 16;
  EXPECT_EQ(m->num_parameters(), L * (12 * C * C + 13 * C) + (V + BS) * C + 2 * C);
  // Decay = 2-D weights (incl. embeddings, as nanoGPT), no norms or biases.
  for (auto& n : m->decay_parameter_names()) EXPECT_TRUE(n.ends_with(".weight") && n.find("ln_") == std::string::npos) << n;
  // Init: N(0, 0.02) and N(0, 0.02/√(2L)) for the residual projections.
  auto sd = m->state_dict();
  auto stddev = [](const Tensor& t) {
    double s = 0;
    for (double x : t.to_vector()) s += x * x;
    return std::sqrt(s / double(t.numel()));
  };
  EXPECT_NEAR(stddev(sd["transformer.h.0.mlp.c_fc.weight"]), 0.02, 0.002);
  EXPECT_NEAR(stddev(sd["transformer.h.0.mlp.c_proj.weight"]), 0.01, 0.001);
  EXPECT_EQ(stddev(sd["transformer.h.0.attn.c_attn.bias"]), 0.0);
}

TEST(Llama, NamesGroupedQueryAndHiddenWidth) {
  json c = tiny("llama");
  c["n_embd"] = 64, c["n_head"] = 4, c["n_kv_head"] = 2;
  auto m = models::build_model(c);
  auto sd = m->state_dict();
  // [q | k | v] = (4 + 2·2) heads of 16.
  EXPECT_EQ(sd.at("layers.0.attention.c_attn.weight").shape(), (Shape{128, 64}));
  // 2/3 · 4 · 64 = 170 -> 192 (multiple of 32).
  EXPECT_EQ(sd.at("layers.1.feed_forward.w1.weight").shape(), (Shape{192, 64}));
  EXPECT_EQ(sd.at("layers.1.feed_forward.w2.weight").shape(), (Shape{64, 192}));
  EXPECT_TRUE(sd.count("output.weight") && sd.count("norm.weight") && sd.count("tok_embeddings.weight"));
  c["tie_weights"] = true;
  EXPECT_FALSE(models::build_model(c)->state_dict().count("output.weight"));
}

TEST(ModelConfig, ClearErrors) {
  auto expect_error = [](const json& c, const std::string& needle) {
    try {
      models::build_model(c);
      ADD_FAILURE() << "accepted " << c.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  json c = tiny("gpt");
  c["n_layers"] = 3;
  expect_error(c, "unknown key \"n_layers\"");
  c = tiny("gpt");
  c["n_head"] = 3;
  expect_error(c, "multiple of n_head");
  c = tiny("llama");
  c["dropout"] = "high";
  expect_error(c, "\"dropout\" must be a number");
  c = tiny("llama");
  c["n_kv_head"] = 3;
  expect_error(c, "n_kv_head");
  c = tiny("gpt");
  c.erase("vocab_size");
  expect_error(c, "vocab_size");
  expect_error(json{{"type", "transformer-xl"}}, "known: ");
  expect_error(json{{"n_layer", 2}}, "\"type\"");
  auto m = models::build_model(tiny("gpt"));
  EXPECT_THROW(m->forward(random_ids(1, 17, 13, 1)), Error);  // longer than block_size
  EXPECT_THROW(m->forward(Tensor::zeros({1, 4})), Error);     // not i64
}

namespace {
// configs/ from the source tree: tests run from the build dir (or a subdir of it).
json read_config(const std::string& name) {
  for (std::string up : {"", "../", "../../", "../../../"}) {
    std::ifstream f(up + "configs/" + name);
    if (f) return json::parse(f);
  }
  throw Error("configs/" + name + " not found from the working directory");
}
}  // namespace

TEST(Configs, ShippedModelConfigsBuildWithNanoGptSizes) {
  // Char-level tiny shakespeare: 65 symbols. nanoGPT's count leaves out the position table.
  struct Want {
    const char* file;
    int64_t params;
  };
  for (auto [file, want] : {Want{"gpt-baby.json", 4 * (12 * 128 * 128 + 2 * 128) + 65 * 128 + 128},
                            Want{"gpt-shakespeare.json", 10646784},  // "number of parameters: 10.65M"
                            Want{"llama-baby.json", 4 * (4 * 128 * 128 + 3 * 352 * 128 + 2 * 128) + 65 * 128 + 128}}) {
    json c = read_config(file).at("model");
    c["vocab_size"] = 65;
    auto m = models::build_model(c);
    int64_t n = m->num_parameters();
    if (c["type"] == "gpt") n -= c["block_size"].get<int64_t>() * c["n_embd"].get<int64_t>();
    EXPECT_EQ(n, want) << file;
  }
}
