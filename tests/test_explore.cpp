// `loupe explore` (tools/audit/explore.h) for every registered model type: the record holds the
// step the trainer takes — the same loss and the same update, bitwise, as an unrecorded step —
// with every op in order (forward, backward, one optimizer event per parameter), each backward
// linked to its forward, every op's equation (tools/audit/op_notes.h, checked against the op
// registry), the f64 shadow's error on every op, the attention maps of the batch's first row and
// a module tree whose counts add up to the model's parameters; the page carries the record
// intact. Plus --step against a checkpoint at that step, and bad input.
#include <cmath>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "autograd/var.h"
#include "models/model.h"
#include "tensor/ops.h"
#include "tensor/stats.h"
#include "tests/test_files.h"
#include "tests/testing.h"
#include "tools/audit/explore.h"
#include "tools/audit/fingerprint.h"
#include "tools/audit/op_notes.h"
#include "tools/train/run_config.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"
#include "tools/train/trainer.h"

namespace loupe {
namespace {

using nlohmann::json;

struct ExploreRun : testing::ScratchDir {
  ExploreRun() : ScratchDir("loupe_explore_") {}
  std::string config(const std::string& type) const {
    const json cfg = {{"model", tools::tiny_model_config(type, 0.1)},
                      {"data", {{"corpus", file("corpus.txt", tools::tiny_corpus_text())}, {"tokenizer", "char"}}},
                      {"train", {{"batch_size", 3}, {"max_iters", 6}, {"lr", 3e-3}, {"warmup_iters", 2},
                                 {"lr_decay_iters", 6}, {"eval_interval", 100}, {"eval_iters", 1}, {"ckpt_interval", 100}}}};
    return file("cfg.json", cfg.dump());
  }
};

TEST(OpNotes, EveryRegisteredOpHasItsEquationAndSources) {
  for (const std::string& op : op_registry()) {
    const tools::OpNote* n = tools::op_note(op);
    ASSERT_NE(n, nullptr) << op << " has no entry in tools/audit/op_notes.cpp";
    EXPECT_GT(std::string(n->forward).size(), 4u) << op;
    EXPECT_GT(std::string(n->backward).size(), 4u) << op;
    EXPECT_TRUE(std::filesystem::exists(std::string(LOUPE_SOURCE_ROOT) + "/" + n->source)) << op << ": " << n->source;
    if (*n->twin) {
      EXPECT_TRUE(std::filesystem::exists(std::string(LOUPE_SOURCE_ROOT) + "/" + n->twin)) << op << ": " << n->twin;
    }
  }
}

// What a step does without anything recording it: its loss and the weights after it.
struct PlainStep {
  double loss;
  std::map<std::string, Tensor> before, after;
};

// rms(after − before) in f64, summed as the page's statistics are (tensor/stats.h), so equal
// updates give equal figures.
double rms_of_difference(const Tensor& after, const Tensor& before) {
  return tensor_stats(sub(after.to(DType::F64), before.to(DType::F64))).rms();
}

PlainStep plain_step(const std::string& config_path) {
  const tools::RunConfig cfg = tools::load_run_config(config_path);
  tools::Data data = tools::open_data(cfg.data);
  auto model = models::build_model(tools::training_model_config(cfg, [&] { return data.tokenizer->vocab_size(); }));
  tools::TrainingStep step(*model, cfg.train, *data.dataset);
  std::map<std::string, Tensor> before;
  for (auto& [k, v] : model->state_dict()) before[k] = v.clone();
  const double loss = step.run(0, true).loss;
  return {loss, before, model->state_dict()};
}

class Explore : public ::testing::TestWithParam<std::string> {};

TEST_P(Explore, TheStepAsThePageShowsIt) {
  ExploreRun r;
  tools::ExploreOptions opt;
  opt.config = r.config(GetParam());
  opt.shadow = true;
  const json rec = tools::explore_step(opt);
  const json& ops = rec["ops"];
  const PlainStep plain = plain_step(opt.config);
  EXPECT_EQ(rec["run"]["loss"].get<double>(), plain.loss) << "recording changed the loss";

  // forward, then backward, then the optimizer; links both ways; a note and a shadow error each.
  int phase = 0;
  const char* phases[] = {"forward", "backward", "optimizer"};
  std::set<std::string> paths;
  for (const json& m : rec["modules"]) paths.insert(m["path"].get<std::string>());
  for (size_t i = 0; i < ops.size(); ++i) {
    const json& o = ops[i];
    while (phase < 3 && o["pass"] != phases[phase]) ++phase;
    ASSERT_LT(phase, 3) << "op " << i << " (" << o["pass"] << ") is out of order";
    EXPECT_TRUE(rec["notes"].contains(o["op"].get<std::string>())) << o["op"];
    EXPECT_TRUE(paths.count(o["module"].get<std::string>())) << o["module"];
    if (o["pass"] == "backward") {
      ASSERT_TRUE(o.contains("forward")) << i;
      EXPECT_EQ(ops[o["forward"].get<size_t>()]["backward"], i);
    }
    if (o["pass"] != "optimizer") {
      ASSERT_TRUE(o.contains("shadow")) << i;
      EXPECT_LT(o["shadow"].get<double>(), 1e-3) << o["op"] << " in " << o["module"];
    }
  }
  EXPECT_EQ(phase, 2);

  // One optimizer event per parameter; each update is the step's own, and the tree counts them.
  const json& params = rec["params"];
  ASSERT_EQ(params.size(), plain.after.size());
  int64_t total = 0;
  for (const json& p : params) {
    const std::string name = p["name"];
    EXPECT_DOUBLE_EQ(p["update"]["rms"].get<double>(), rms_of_difference(plain.after.at(name), plain.before.at(name))) << name;
    EXPECT_GT(p["ratio"].get<double>(), 0) << p["name"];
    total += p["numel"].get<int64_t>();
  }
  EXPECT_EQ(rec["modules"][0]["path"], "");
  EXPECT_EQ(rec["modules"][0]["count"].get<int64_t>(), total);

  // Attention of batch row 0, over its tokens.
  const json& attn = rec["attention"];
  ASSERT_FALSE(attn["maps"].empty()) << GetParam() << " reported no attention";
  for (const json& m : attn["maps"]) EXPECT_EQ(m["rows"].get<size_t>(), attn["tokens"].size());

  // The page holds the record, whole.
  const std::string page = tools::explore_page(rec);
  const auto at = page.find("const R = ");
  ASSERT_NE(at, std::string::npos);
  const auto end = page.find(";\n", at);
  EXPECT_EQ(json::parse(page.substr(at + 10, end - at - 10)), rec);
  EXPECT_EQ(page.find("/*DATA*/"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllModels, Explore, ::testing::ValuesIn(models::registered_models()),
                         [](const auto& info) { return info.param; });

TEST(ExploreStep, StepNIsTheCheckpointsNextStep) {
  ExploreRun r;
  tools::ExploreOptions opt;
  opt.config = r.config("gpt");
  opt.step = 2;
  const json from_config = tools::explore_step(opt);
  tools::TrainOptions t;
  t.config = tools::load_run_config(opt.config);
  t.out_dir = r.sub("run");
  t.progress = false;
  t.stop_after = 2;
  tools::train(t);
  tools::ExploreOptions ck;
  ck.ckpt = r.sub("run");
  const json from_ckpt = tools::explore_step(ck);
  EXPECT_EQ(from_config["run"]["step"], 2);
  EXPECT_EQ(from_ckpt["run"]["step"], 2);
  EXPECT_EQ(from_config["run"]["loss"], from_ckpt["run"]["loss"]);
  EXPECT_EQ(from_config["params"], from_ckpt["params"]);  // the same gradients and AdamW updates
}

TEST(ExploreStep, BadInputIsRefused) {
  ExploreRun r;
  tools::ExploreOptions both;
  both.config = r.config("gpt");
  both.ckpt = r.sub("nowhere");
  EXPECT_NE(testing::error_of([&] { tools::explore_step(both); }).find("one of them"), std::string::npos);
  tools::ExploreOptions missing;
  missing.ckpt = r.sub("nowhere");
  EXPECT_NE(testing::error_of([&] { tools::explore_step(missing); }).find("nowhere"), std::string::npos);
  tools::ExploreOptions step_ckpt;
  step_ckpt.ckpt = r.sub("nowhere");
  step_ckpt.step = 3;
  EXPECT_NE(testing::error_of([&] { tools::explore_step(step_ckpt); }).find("--step"), std::string::npos);
}

}  // namespace
}  // namespace loupe
