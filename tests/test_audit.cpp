// The audit suite: trace records (module paths, producers, hashes), `loupe audit diff` on the
// use cases it exists for (1 vs 2 threads, straight vs resumed, two seeds, a changed kernel),
// bad input, .npy dumps, and anomaly mode stopping at the op that made the first NaN.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "autograd/anomaly.h"
#include "autograd/trace.h"
#include "tensor/parallel.h"
#include "tensor/reference/mode.h"
#include "tests/test_files.h"
#include "tools/audit.h"
#include "tools/checkpoint.h"
#include "tools/run_config.h"
#include "tools/shadow.h"
#include "tools/trainer.h"

namespace loupe {
namespace {

using nlohmann::json;
using tools::TraceDiff;

struct Audit : testing::ScratchDir {
  Audit() : ScratchDir("loupe_audit_") {}
  json config(std::vector<std::string> sets = {}) const {
    std::string text;
    for (int i = 0; i < 40; ++i) text += "Now is the winter of our discontent made glorious summer by this sun.\n";
    const json cfg = {{"model", {{"type", "gpt"}, {"n_layer", 2}, {"n_head", 2}, {"n_embd", 16}, {"block_size", 16},
                                 {"dropout", 0.1}}},
                      {"data", {{"corpus", file("corpus.txt", text)}, {"tokenizer", "char"}}},
                      {"train", {{"batch_size", 2}, {"max_iters", 6}, {"lr", 1e-2}, {"eval_interval", 3},
                                 {"eval_iters", 1}, {"ckpt_interval", 1}, {"warmup_iters", 1}, {"lr_decay_iters", 6}}}};
    return tools::load_run_config(file("cfg.json", cfg.dump()), sets);
  }
  // Trains, tracing to <name>.jsonl (steps [first, last]).
  std::string traced(const json& cfg, const std::string& name, int64_t stop_after = -1, bool resume = false,
                     int64_t first = 0, bool trace = true) const {
    const std::string path = sub(name + ".jsonl");
    TraceOptions t{path, "", {}};
    t.filter.first_step = first;
    if (trace) start_trace(t);
    tools::TrainOptions o;
    o.config = cfg, o.out_dir = sub(name), o.progress = false, o.stop_after = stop_after, o.resume = resume;
    tools::train(o);
    stop_trace();
    return path;
  }
};

std::vector<json> records(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (auto j = json::parse(line); !j.contains("note")) out.push_back(j);
  return out;
}

TEST(Trace, RecordsCarryModulePathsProducersAndHashes) {
  Audit a;
  const auto recs = records(a.traced(a.config({"train.max_iters=1"}), "run"));
  ASSERT_GT(recs.size(), 50u);
  std::map<int64_t, json> by_seq;
  bool saw_ln = false, saw_backward = false;
  for (auto& r : recs) {
    by_seq[r["seq"].get<int64_t>()] = r;
    if (r["op"] == "layer_norm" && r["pass"] == "forward" && r["module"] == "transformer.h.0.ln_1" && r["step"] == 0) {
      saw_ln = true;
      const json& out = r["outputs"][0];
      EXPECT_EQ(out["hash"].get<std::string>().size(), 16u);
      EXPECT_EQ(out["nan"], 0);
      EXPECT_TRUE(out.contains("rms") && out.contains("mean"));
      ASSERT_TRUE(r["inputs"][0]["from"].is_number()) << r.dump();  // made by an earlier op
      EXPECT_LT(r["inputs"][0]["from"].get<int64_t>(), r["seq"].get<int64_t>());
      EXPECT_TRUE(by_seq.count(r["inputs"][0]["from"].get<int64_t>()));
    }
    if (r["pass"] == "backward" && r["op"] == "layer_norm") {
      saw_backward = true;
      ASSERT_TRUE(r["forward"].is_number());
      EXPECT_EQ(by_seq.at(r["forward"].get<int64_t>())["op"], "layer_norm");
      EXPECT_EQ(by_seq.at(r["forward"].get<int64_t>())["module"], r["module"]);
    }
  }
  EXPECT_TRUE(saw_ln && saw_backward);
}

TEST(AuditDiff, OneAndTwoThreadsAreIdentical) {
  Audit a;
  const json cfg = a.config({"train.max_iters=2"});
  set_num_threads(1);
  const auto p1 = a.traced(cfg, "t1");
  set_num_threads(2);
  const auto p2 = a.traced(cfg, "t2");
  const TraceDiff d = tools::diff_traces(p1, p2);
  EXPECT_EQ(d.kind, TraceDiff::Identical) << d.summary();
  EXPECT_GT(d.records, 100);
}

TEST(AuditDiff, StraightAndResumedRunsAreIdentical) {
  Audit a;
  const json cfg = a.config();
  const auto straight = a.traced(cfg, "straight", -1, false, /*first=*/3);
  a.traced(cfg, "split", /*stop_after=*/3, false, 0, /*trace=*/false);
  const auto resumed = a.traced(cfg, "split", -1, /*resume=*/true, /*first=*/3);
  const TraceDiff d = tools::diff_traces(straight, resumed);
  EXPECT_EQ(d.kind, TraceDiff::Identical) << d.summary();
  EXPECT_GT(d.records, 100);
}

TEST(AuditDiff, TwoSeedsPartAtTheFirstOpThatUsesTheSeed) {
  Audit a;
  const auto p1 = a.traced(a.config({"train.max_iters=1", "model.seed=1"}), "s1");
  const auto p2 = a.traced(a.config({"train.max_iters=1", "model.seed=2"}), "s2");
  const TraceDiff d = tools::diff_traces(p1, p2);
  ASSERT_EQ(d.kind, TraceDiff::Diverges) << d.summary();
  EXPECT_EQ(d.index, 0);  // the first op reads the initial token embedding
  EXPECT_EQ(d.a["op"], "embedding");
  EXPECT_EQ(d.a["module"], "transformer.wte");
  EXPECT_NE(d.summary().find("transformer.wte"), std::string::npos);
}

TEST(AuditDiff, AChangedKernelIsCaughtAtThatOp) {
  Audit a;
  const json cfg = a.config({"train.max_iters=1"});
  const auto fast = a.traced(cfg, "fast");
  std::string ref;
  {
    reference::Scope textbook;  // every fused op by its textbook twin
    ref = a.traced(cfg, "ref");
  }
  const TraceDiff d = tools::diff_traces(fast, ref);
  ASSERT_EQ(d.kind, TraceDiff::Diverges) << d.summary();
  EXPECT_EQ(d.a["op"], "layer_norm") << d.summary();  // the first op with a twin
  EXPECT_EQ(d.a["module"], "transformer.h.0.ln_1");
  // Within a tolerance the two agree further (f32 rounding only) until the loss.
  const TraceDiff loose = tools::diff_traces(fast, ref, 1e-3);
  EXPECT_GT(loose.index, d.index);
}

TEST(AuditDiff, LengthAndControlFlow) {
  Audit a;
  const json cfg = a.config({"train.max_iters=2", "train.eval_interval=100"});
  const auto one = a.traced(cfg, "one", /*stop_after=*/1);  // the same run, stopped after its first step
  const auto two = a.traced(cfg, "two");
  TraceDiff d = tools::diff_traces(one, two);
  EXPECT_EQ(d.kind, TraceDiff::Length) << d.summary();
  EXPECT_TRUE(d.a.is_null());
  EXPECT_NE(d.summary().find("A ends"), std::string::npos);
  const auto wide = a.traced(a.config({"train.max_iters=2", "train.eval_interval=100", "model.bias=true"}), "bias", 1);
  d = tools::diff_traces(one, wide);
  EXPECT_EQ(d.kind, TraceDiff::ControlFlow) << d.summary();  // biases add ops
}

TEST(AuditDiff, BadInputIsNamed) {
  Audit a;
  const auto good = a.traced(a.config({"train.max_iters=1"}), "good");
  std::string text;
  {
    std::ifstream f(good);
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  const auto cut = a.file("cut.jsonl", text.substr(0, text.size() / 2));  // ends inside a record
  std::string err = testing::error_of([&] { tools::diff_traces(good, cut); });
  EXPECT_NE(err.find("cut.jsonl:"), std::string::npos) << err;
  err = testing::error_of([&] { tools::diff_traces(good, a.sub("missing.jsonl")); });
  EXPECT_NE(err.find("missing.jsonl"), std::string::npos) << err;
  const auto llama = a.traced(a.config({"train.max_iters=1", "model.type=llama"}), "llama");
  err = testing::error_of([&] { tools::diff_traces(good, llama); });
  EXPECT_NE(err.find("different models"), std::string::npos) << err;
}

TEST(Trace, FiltersAndNpyDumps) {
  Audit a;
  TraceOptions t{a.sub("f.jsonl"), a.sub("dumps"), {}};
  t.filter.ops = {"layer_norm"};
  t.filter.modules = "transformer.h.1.*";
  start_trace(t);
  tools::TrainOptions o;
  o.config = a.config({"train.max_iters=1", "train.eval_interval=100"}), o.out_dir = a.sub("run"), o.progress = false;
  tools::train(o);
  stop_trace();
  const auto recs = records(a.sub("f.jsonl"));
  ASSERT_FALSE(recs.empty());
  for (auto& r : recs) {
    EXPECT_EQ(r["op"], "layer_norm");
    EXPECT_EQ(r["module"].get<std::string>().rfind("transformer.h.1.", 0), 0u) << r["module"];
  }
  int npy = 0;
  std::string one;
  for (auto& e : std::filesystem::directory_iterator(a.sub("dumps")))
    if (e.path().extension() == ".npy") ++npy, one = e.path().string();
  EXPECT_GE(npy, int(recs.size()));
  // numpy reads the dumps (when it is installed).
  // Debian's python3 has numpy (./run test installs python3-numpy); another python3 on PATH may not.
  const std::string py = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  if (std::system((py + " -c 'import numpy' 2>/dev/null").c_str()) == 0) {
    const std::string cmd = py + " -c \"import numpy, sys; a = numpy.load(sys.argv[1]); assert a.ndim >= 1 and a.size > 0\" '" + one + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << one;
  }
}

TEST(Anomaly, StopsAtTheOpThatMadeTheFirstNaNAndKeepsTheLastGoodCheckpoint) {
  Audit a;
  tools::TrainOptions o;
  o.config = a.config({"train.lr=1e6", "train.grad_clip=0", "train.warmup_iters=0", "model.dropout=0.0"});
  o.out_dir = a.sub("run"), o.progress = false, o.anomaly = true;
  const std::string err = testing::error_of([&] { tools::train(o); });
  EXPECT_EQ(err.rfind("anomaly: ", 0), 0u) << err;
  EXPECT_NE(err.find("from finite inputs"), std::string::npos) << err;  // the op that created it
  EXPECT_NE(err.find("module '"), std::string::npos) << err;
  EXPECT_NE(err.find(" pass"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::exists(a.sub("run/anomaly"))) << err;
  // The checkpoint on disk is the last good one: finite weights, an earlier step.
  const auto ck = tools::load_checkpoint(a.sub("run"));
  for (auto& [n, t] : ck.model_state)
    for (double x : t.to_vector()) ASSERT_TRUE(std::isfinite(x)) << n;
  EXPECT_LT(ck.step, 6);
}

TEST(Shadow, EveryOpPairsWithItsF64TwinAndF32ErrorsAreRounding) {
  Audit a;
  const auto r = tools::shadow_f64(a.config({"model.dropout=0.1"}), nullptr, 2);
  ASSERT_GT(r.ops.size(), 100u);
  EXPECT_TRUE(r.by_kind.count("matmul (forward)") && r.by_kind.count("layer_norm (backward)"));
  EXPECT_GT(r.by_kind.at("matmul (forward)").worst, 0.0);  // f32 really ran
  for (size_t i = 1; i < r.ops.size(); ++i) EXPECT_GE(r.ops[i - 1].rel, r.ops[i].rel);  // worst first
  for (auto& o : r.ops)
    if (o.step == 0) EXPECT_LT(o.rel, 1e-5) << o.op << " " << o.pass << " " << o.module;  // same weights: rounding only
  ASSERT_EQ(r.loss32.size(), 2u);
  EXPECT_NEAR(r.loss32[0], r.loss64[0], 1e-5);
  EXPECT_NE(r.table(5).find("worst ops"), std::string::npos);
}

}  // namespace
}  // namespace loupe
