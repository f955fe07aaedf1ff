// Promises kept for every registered model type, on a tiny config with dropout on, so a model
// added later cannot skip them (the list comes from the registry, not from this file):
//   (a) a straight run equals a stopped and resumed one, bitwise: every model and optimizer tensor;
//   (b) 1, 2, 3 and 7 threads give the same bits, at a size where every parallel path splits;
//   (c) save -> load gives the saved model's logits, bitwise; KV-cache decoding equals recomputing;
//   (d) the loss falls when overfitting one batch;
//   (e) its attention maps (loupe audit attention) are causal distributions, and its module
//       records (traces at module granularity) name its modules;
// plus: the parameter count the registry estimates from a config equals the built model's, a
// config that cannot fit in memory is refused before anything is allocated, and the activation
// estimate (models/activation_probe.h) is close to a measured step and refuses a step too big.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <set>

#include <gtest/gtest.h>

#include "autograd/attention_probe.h"
#include "autograd/ops.h"
#include "models/activation_probe.h"
#include "models/model.h"
#include "nn/safetensors.h"
#include "optim/adam.h"
#include "tensor/allocator.h"
#include "tensor/parallel.h"
#include "tests/test_files.h"
#include "tests/testing.h"
#include "tools/train/checkpoint.h"
#include "tools/audit/fingerprint.h"
#include "tools/train/run_config.h"
#include "tools/text/dataset.h"
#include "tools/train/evaluate.h"
#include "tools/train/metrics.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"
#include "tools/train/trainer.h"

namespace loupe {
namespace {

using nlohmann::json;
using testing::bitwise_equal;

// The tiny config of each type (tools/audit/fingerprint.h: `loupe fingerprint` trains the same).
json tiny_model(const std::string& type, double dropout = 0.1) { return tools::tiny_model_config(type, dropout); }
// That model built, without dropout, with `vocab` ids.
std::shared_ptr<models::LanguageModel> tiny_built(const std::string& type, int64_t vocab) {
  json mc = tiny_model(type, 0.0);
  mc["vocab_size"] = vocab;
  return models::build_model(mc);
}

struct TinyRun : testing::ScratchDir {
  TinyRun() : ScratchDir("loupe_registry_") {}
  json config(const std::string& type, std::vector<std::string> sets = {}) const {
    const json cfg = {{"model", tiny_model(type)},
                      {"data", {{"corpus", file("corpus.txt", tools::tiny_corpus_text())}, {"tokenizer", "char"}}},
                      {"train", {{"batch_size", 3}, {"max_iters", 6}, {"lr", 3e-3}, {"warmup_iters", 2},
                                 {"lr_decay_iters", 6}, {"eval_interval", 3}, {"eval_iters", 1}, {"log_interval", 1},
                                 {"ckpt_interval", 100}, {"grad_accum", 2}}}};
    return tools::load_run_config(file("cfg.json", cfg.dump()), sets).to_json();
  }
  void train(const json& cfg, const std::string& out, int64_t stop_after = -1, bool resume = false) const {
    tools::TrainOptions o;
    o.config = tools::RunConfig::from_json(cfg, "test config");
    o.out_dir = sub(out);
    o.progress = false;
    o.stop_after = stop_after;
    o.resume = resume;
    tools::train(o);
  }
  std::map<std::string, Tensor> tensors(const std::string& out) const {
    return nn::load_safetensors(tools::checkpoint_path(sub(out)));
  }
};

void expect_same_tensors(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, v] : a) {
    ASSERT_TRUE(b.count(k)) << k;
    EXPECT_TRUE(bitwise_equal(v, b.at(k))) << k;
  }
}

class Registry : public ::testing::TestWithParam<std::string> {};

TEST_P(Registry, StraightRunEqualsStopAndResume) {
  TinyRun r;
  const json cfg = r.config(GetParam());
  r.train(cfg, "straight");
  r.train(cfg, "split", /*stop_after=*/3);
  r.train(cfg, "split", -1, /*resume=*/true);
  expect_same_tensors(r.tensors("straight"), r.tensors("split"));
  // and dropout really ran: without it the weights differ.
  r.train(r.config(GetParam(), {"model.dropout=0.0"}), "nodrop");
  EXPECT_FALSE(bitwise_equal(r.tensors("straight").begin()->second, r.tensors("nodrop").begin()->second) &&
               bitwise_equal(r.tensors("straight").rbegin()->second, r.tensors("nodrop").rbegin()->second));
}

// The thread count never changes the bits: 1, 2, 3 and 7 threads (more than the cores), at a
// size where the parallel paths really split the work, which the counts of parallel regions
// entered prove (at the tiny size every kernel stays below its cut-off and 1 vs 2 threads would
// compare a serial path with itself).
TEST_P(Registry, ThreadCountNeverChangesTheBits) {
  TinyRun r;
  const json cfg = r.config(GetParam(), {"train.max_iters=2", "train.batch_size=16", "train.grad_accum=1",
                                         "model.n_embd=64", "model.n_head=4", "model.block_size=64"});
  const int before = get_num_threads();
  for (int threads : {1, 2, 3, 7}) {
    set_num_threads(threads);
    reset_parallel_regions();
    r.train(cfg, "t" + std::to_string(threads));
    const auto regions = parallel_regions();
    if (threads == 1) {
      EXPECT_TRUE(regions.empty()) << "one thread entered a parallel region";
      continue;
    }
    std::string seen;
    for (auto& [file, n] : regions) seen += " " + file + ":" + std::to_string(n);
    // GEMM, elementwise ops, dropout, the loss, the norms' row blocks, gradient clipping, the
    // optimizer and the attention kernel (ELiTA's own): every model runs them, each one split here.
    const char* attention = GetParam() == "elita" ? "elita_attention.cpp" : "attention.cpp";
    for (const char* file : {"gemm.cpp", "elementwise.h", "dropout.cpp", "cross_entropy.cpp", "norm.cpp", "clip.cpp",
                             "optimizer.cpp", attention})
      EXPECT_GT(regions.count(file) ? regions.at(file) : 0, 0) << file << " never ran in parallel; ran:" << seen;
    if (threads == 2) std::printf("[ %s ] parallel regions at 2 threads:%s\n", GetParam().c_str(), seen.c_str());
    expect_same_tensors(r.tensors("t1"), r.tensors("t" + std::to_string(threads)));
  }
  set_num_threads(before);
}

TEST_P(Registry, SaveLoadGivesTheSavedModelsLogits) {
  TinyRun r;
  const json cfg = r.config(GetParam());
  json mc = cfg["model"];
  mc["vocab_size"] = 20;
  auto saved = models::build_model(mc);
  // Weights unlike any initialisation: every parameter moved by its own noise.
  uint64_t seed = 1;
  for (auto& [name, p] : saved->named_parameters()) {
    Tensor w = p.value();
    w.copy_((Var(w) + Var(Tensor::uniform(w.shape(), -0.05, 0.05, seed++, w.dtype()))).value());
  }
  tools::RunConfig run_cfg = tools::RunConfig::from_json(cfg, "test config");
  run_cfg.model = saved->config();
  const auto tok = text::tokenizer_for_corpus("char", cfg["data"]["corpus"].get<std::string>(), 0);
  tools::save_checkpoint(r.sub("saved"), run_cfg, 7, json::object(), *tok, *saved, {});
  const auto ck = tools::load_checkpoint(r.sub("saved"));
  auto loaded = tools::model_from_checkpoint(ck);
  saved->eval(), loaded->eval();
  NoGrad ng;
  const Tensor ids = Tensor::from_ints({1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 19}, {2, 6});
  const Tensor want = saved->forward(ids).value();
  EXPECT_TRUE(bitwise_equal(want, loaded->forward(ids).value()));
  EXPECT_EQ(ck.step, 7);
  // The loaded weights are the saved ones, not an initialisation: a fresh model differs.
  auto fresh = models::build_model(ck.config.model);
  fresh->eval();
  EXPECT_FALSE(bitwise_equal(want, fresh->forward(ids).value()));
}

// Generation through the KV cache (forward_cached) gives the logits of recomputing the whole
// sequence: a prompt, single tokens, then a chunk, up to the model's context; a full cache refuses.
TEST_P(Registry, CachedDecodingEqualsFullRecompute) {
  auto m = tiny_built(GetParam(), 20);
  m->eval();
  NoGrad ng;
  const int64_t T = m->block_size();
  ASSERT_GE(T, 8);
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 2 * T; ++i) v.push_back((7 * i + 3) % 20);
  const Tensor ids = Tensor::from_ints(v, {2, T});
  const Tensor full = m->forward(ids).value();
  auto cache = m->make_cache(2, T);
  std::vector<std::pair<int64_t, int64_t>> chunks = {{0, 3}};
  for (int64_t t = 3; t < T - 3; ++t) chunks.push_back({t, 1});
  chunks.push_back({T - 3, 3});
  for (auto [t0, n] : chunks) {
    const Tensor step = m->forward_cached(ids.narrow(1, t0, n).contiguous(), *cache).value();
    EXPECT_TRUE(testing::all_close(step, full.narrow(1, t0, n), 1e-5, 1e-5)) << "tokens " << t0 << ".." << t0 + n;
  }
  EXPECT_EQ(cache->length(), T);
  EXPECT_GT(cache->bytes(), 0);
  EXPECT_THROW(m->forward_cached(ids.narrow(1, 0, 1).contiguous(), *cache), Error);  // the cache is full
}

TEST_P(Registry, LossFallsWhenOverfittingOneBatch) {
  json mc = tiny_model(GetParam());
  mc["vocab_size"] = 11;
  auto m = models::build_model(mc);
  std::vector<int64_t> v;
  for (int i = 0; i < 2 * 17; ++i) v.push_back((i * 7 + i / 3) % 11);
  const Tensor ids = Tensor::from_ints(v, {2, 17});
  const Tensor x = ids.narrow(1, 0, 16).contiguous(), y = ids.narrow(1, 1, 16).contiguous();
  optim::ParamGroup g;
  g.params = m->named_parameters();
  optim::AdamW opt({g});
  opt.set_lr(1e-2);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    set_step(1, step);
    Var loss = cross_entropy(reshape(m->forward(x), {-1, 11}), y.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  EXPECT_LT(last, 0.5 * first) << GetParam() << ": first " << first << " last " << last;
}

// The registry's estimate (used to refuse configs that cannot fit) is the real count.
TEST_P(Registry, ParameterEstimateEqualsTheBuiltModel) {
  for (double dropout : {0.0, 0.1}) {
    json mc = tiny_model(GetParam(), dropout);
    mc["vocab_size"] = 11;
    const auto& info = models::model_info(GetParam());
    EXPECT_EQ(info.count_parameters(mc), double(models::build_model(mc)->num_parameters())) << mc.dump();
  }
  // Every listed key has a description.
  for (auto& k : models::model_info(GetParam()).keys()) EXPECT_FALSE(k.doc.empty()) << k.name;
}

TEST_P(Registry, ConfigThatCannotFitIsRefusedBeforeBuilding) {
  json mc = tiny_model(GetParam());
  mc["vocab_size"] = 11;
  mc["n_embd"] = 1 << 16, mc["n_head"] = 1 << 10;  // the largest width the table allows
  if (mc.contains("n_layer")) mc["n_layer"] = 1024;
  if (GetParam() == "shishu") mc["attn_layers"] = 1000;  // plus its MLP-only layers: within the parent's 1024
  const std::string err = testing::error_of([&] { models::build_model(mc); });
  EXPECT_NE(err.find("parameters need about"), std::string::npos) << err;
  EXPECT_NE(err.find("GiB"), std::string::npos) << err;
}

// No integer key is unbounded: each has a range a real run can use (a typo like n_layer=2^31
// is refused by name instead of building layers until memory runs out).
TEST_P(Registry, EveryIntegerKeyHasABoundedRange) {
  int checked = 0;
  for (auto& k : models::model_info(GetParam()).keys()) {
    if (k.type != "integer" || k.name.find("seed") != std::string::npos) continue;  // seeds: any uint64
    ASSERT_EQ(k.range.front(), '[') << k.name << " " << k.range;
    const int64_t hi = std::stoll(k.range.substr(k.range.find(", ") + 2));
    EXPECT_LE(hi, int64_t(1) << 30) << k.name;
    json mc = tiny_model(GetParam());
    mc["vocab_size"] = 11;
    mc[k.name] = hi + 1;
    const std::string err = testing::error_of([&] { models::model_info(GetParam()).count_parameters(mc); });
    EXPECT_NE(err.find("\"" + k.name + "\" must be an integer in " + k.range), std::string::npos) << err;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

// `loupe audit attention` pictures every model: its attention maps are causal distributions over
// the tokens (rows sum to 1, nothing on a later key), one per attention call, under a module path.
TEST_P(Registry, AttentionMapsAreCausalDistributions) {
  auto m = tiny_built(GetParam(), 11);
  m->eval();
  AttentionProbe probe;
  {
    NoGrad ng;
    m->forward(Tensor::from_ints({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2}, {2, 6}));
  }
  ASSERT_FALSE(probe.maps().empty()) << GetParam();
  for (auto& map : probe.maps()) {
    EXPECT_FALSE(map.module.empty());
    ASSERT_EQ(map.probs.dim(), 4);
    ASSERT_EQ(map.probs.size(0), 2);
    ASSERT_EQ(map.probs.size(2), 6);
    ASSERT_EQ(map.probs.size(3), 6) << map.module;
    const double* p = map.probs.data<double>();
    for (int64_t r = 0; r < map.probs.numel() / 36; ++r)
      for (int64_t i = 0; i < 6; ++i) {
        double sum = 0;
        for (int64_t j = 0; j < 6; ++j) {
          const double v = p[(r * 6 + i) * 6 + j];
          EXPECT_GE(v, 0.0);
          if (j > i) {
            EXPECT_EQ(v, 0.0) << map.module << " row " << i << " key " << j;
          }
          sum += v;
        }
        EXPECT_NEAR(sum, 1.0, 1e-6) << map.module << " row " << i;
      }
  }
}

// Module records (what each module's forward returned) name modules that exist in the model.
TEST_P(Registry, ModuleRecordsNameTheModelsModules) {
  auto m = tiny_built(GetParam(), 11);
  std::set<std::string> paths;
  std::function<void(const nn::Module&, const std::string&)> walk = [&](const nn::Module& x, const std::string& p) {
    paths.insert(p);
    for (auto& [name, c] : x.children()) walk(*c, p.empty() ? name : p + "." + name);
  };
  walk(*m, "");
  std::vector<std::string> seen;
  const int hook = add_op_hook([&](const OpEvent& ev) {
    if (std::string(ev.op) == "module") seen.push_back(ev.module);
  });
  m->forward(Tensor::from_ints({1, 2, 3, 4}, {1, 4}));
  remove_op_hook(hook);
  ASSERT_FALSE(seen.empty()) << GetParam();
  for (auto& s : seen) EXPECT_TRUE(paths.count(s)) << GetParam() << ": module record for '" << s << "'";
}

// The activation estimate, fitted on batch-1 probes of length ≤ 48, against the peak of a real
// forward + backward at batch 4 × length 96; the probes leave no trace events, no gradients and
// the same logits behind.
TEST_P(Registry, ActivationEstimateMatchesAMeasuredStep) {
  json mc = tiny_model(GetParam());
  mc["vocab_size"] = 11, mc["block_size"] = 96;
  auto m = models::build_model(mc);
  m->train();
  const int64_t B = 4, T = 96;
  std::vector<int64_t> ids(size_t(B * T));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(i * 7 % 11);
  const Tensor x = Tensor::from_ints(ids, {B, T});
  set_step(1, 0);
  const Tensor before = m->forward(x).value().clone();
  int events = 0;
  const int hook = add_op_hook([&](const OpEvent&) { ++events; });
  const models::ActivationEstimate e = models::probe_activations(*m);
  remove_op_hook(hook);
  EXPECT_EQ(events, 0) << "the probe's passes fired op hooks";
  for (auto& p : m->parameters()) EXPECT_FALSE(p.grad().defined()) << "the probe left a gradient";
  set_step(1, 0);
  EXPECT_TRUE(bitwise_equal(before, m->forward(x).value()));

  set_step(1, 1);
  const size_t live = storage_live_bytes();
  storage_reset_peak();
  {
    Var logits = m->forward(x);
    cross_entropy(reshape(logits, {-1, 11}), x.reshape({-1})).backward();
  }
  const double measured = double(storage_peak_bytes()) - double(std::max(live, storage_live_bytes()));
  const double estimated = e.bytes(B, T);
  EXPECT_GT(estimated, 0.85 * measured) << GetParam() << ": estimated " << estimated << ", measured " << measured;
  EXPECT_LT(estimated, 1.2 * measured) << GetParam() << ": estimated " << estimated << ", measured " << measured;
  m->zero_grad();
}

TEST_P(Registry, StepWhoseActivationsCannotFitIsRefused) {
  json mc = tiny_model(GetParam());
  mc["vocab_size"] = 11;
  auto m = models::build_model(mc);
  const std::string err = testing::error_of([&] { models::check_training_memory(*m, 1 << 16, 1 << 16, "train"); });
  EXPECT_NE(err.find("train: batch_size 65536 × block_size 65536 needs about"), std::string::npos) << err;
  EXPECT_NE(err.find("of activations per micro-batch"), std::string::npos) << err;
  EXPECT_NO_THROW(models::check_training_memory(*m, 3, 16, "train"));
}

// Same bits everywhere (docs/numerics.md): this build, on this machine, trains every model type to the
// bits tests/isa/fingerprints.txt records (made on another machine, checked there by
// ./run test-isa on AVX2 and AVX-512 builds). A type missing from the table fails too.
TEST_P(Registry, TrainsToTheCommittedFingerprint) {
  std::ifstream in(std::string(LOUPE_SOURCE_ROOT) + "/tests/isa/fingerprints.txt");
  ASSERT_TRUE(in) << "tests/isa/fingerprints.txt is missing";
  std::map<std::string, std::string> want;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string model, dtype;
    ls >> model >> dtype;
    want[model + " " + dtype] = line;
  }
  TinyRun run;
  for (const std::string dtype : {"f32", "f64"}) {
    const std::string key = GetParam() + " " + dtype;
    ASSERT_TRUE(want.count(key)) << key << " has no line in tests/isa/fingerprints.txt: add the output of "
                                 << "`loupe fingerprint --model " << GetParam() << "`";
    EXPECT_EQ(tools::fingerprint_line(tools::fingerprint(GetParam(), dtype, run.sub("fp"))), want[key])
        << "other bits than the committed table: if intended, regenerate it (tests/isa/test_isa.sh says how); "
        << "if not, `loupe audit diff` two traces of `loupe fingerprint --model " << GetParam() << "`";
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, Registry, ::testing::ValuesIn(models::registered_models()),
                         [](const auto& info) { return info.param; });

TEST(Registry, ListsEveryArchitecture) {
  for (const char* t : {"gpt", "llama", "silia", "shishu", "elita", "wiola"}) EXPECT_NO_THROW(models::model_info(t)) << t;
}

}  // namespace
}  // namespace loupe
