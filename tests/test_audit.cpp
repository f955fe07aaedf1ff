// The audit suite: trace records (module paths, producers, hashes), `loupe audit diff` on the
// use cases it exists for (1 vs 2 threads, straight vs resumed, two seeds, a changed kernel),
// bad input, .npy dumps, and anomaly mode stopping at the op that made the first NaN.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "autograd/anomaly.h"
#include "autograd/attention_probe.h"
#include "autograd/trace.h"
#include "tensor/npy.h"
#include "tensor/parallel.h"
#include "tensor/reference/mode.h"
#include "tests/test_files.h"
#include "tests/testing.h"
#include "tools/audit/attention_plot.h"
#include "tools/audit/trace_diff.h"
#include "tools/train/checkpoint.h"
#include "tools/train/run_config.h"
#include "tools/audit/shadow.h"
#include "tools/train/evaluate.h"
#include "tools/train/metrics.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"
#include "tools/train/trainer.h"

namespace loupe {
namespace {

using nlohmann::json;
using tools::TraceDiff;

struct Audit : testing::ScratchDir {
  Audit() : ScratchDir("loupe_audit_") {}
  tools::RunConfig config(std::vector<std::string> sets = {}) const {
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
  std::string traced(const tools::RunConfig& cfg, const std::string& name, int64_t stop_after = -1, bool resume = false,
                     int64_t first = 0, bool trace = true) const {
    const std::string path = sub(name + ".jsonl");
    TraceOptions t{path, "", {}};
    t.filter.first_step = first;
    if (trace) start_trace(t);
    tools::TrainOptions o;
    o.config = cfg;
    o.out_dir = sub(name);
    o.progress = false;
    o.stop_after = stop_after;
    o.resume = resume;
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
  const auto cfg = a.config({"train.max_iters=2"});
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
  const auto cfg = a.config();
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
  const auto cfg = a.config({"train.max_iters=1"});
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
  const auto cfg = a.config({"train.max_iters=2", "train.eval_interval=100"});
  const auto one = a.traced(cfg, "one", /*stop_after=*/1);  // the same run, stopped after its first step
  const auto two = a.traced(cfg, "two");
  TraceDiff d = tools::diff_traces(one, two);
  EXPECT_EQ(d.kind, TraceDiff::Length) << d.summary();
  EXPECT_TRUE(d.a.is_null());
  EXPECT_NE(d.summary().find("A ends"), std::string::npos);
  const auto wide = a.traced(a.config({"train.max_iters=2", "train.eval_interval=100", "model.bias=true"}), "bias", 1);
  d = tools::diff_traces(one, wide);
  // Biases add ops (an add after each linear; layer_norm gains an input): after aligning, those
  // are named and every other op is paired, and the same, since biases start at 0.
  EXPECT_EQ(d.kind, TraceDiff::ControlFlow) << d.summary();
  bool bias_add = false;
  for (const json& e : d.edits) bias_add |= e["side"] == "B" && e["op"] == "add";
  EXPECT_TRUE(bias_add) << d.summary();
  EXPECT_GT(d.records, 4 * d.only_a) << d.summary();
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
  o.config = a.config({"train.max_iters=1", "train.eval_interval=100"});
  o.out_dir = a.sub("run");
  o.progress = false;
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
  // NumPy reads the dumps: the Python that meson runs the Python tests with (LOUPE_TEST_PYTHON).
  const char* py = std::getenv("LOUPE_TEST_PYTHON");
  ASSERT_NE(py, nullptr) << "LOUPE_TEST_PYTHON is unset (tests/meson.build sets it)";
  const std::string cmd = std::string("'") + py + "' -c \"import numpy, sys; a = numpy.load(sys.argv[1]); assert a.ndim >= 1 and a.size > 0\" '" + one + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// Every module call ends with a "module" record whose output is the one of the op that made it.
TEST(Trace, ModuleRecordsCarryWhatEachModuleReturned) {
  Audit a;
  const auto recs = records(a.traced(a.config({"train.max_iters=1"}), "run"));
  std::map<int64_t, json> by_seq;
  std::set<std::string> modules;
  for (auto& r : recs) {
    by_seq[r["seq"].get<int64_t>()] = r;
    if (r["op"] != "module") continue;
    EXPECT_EQ(r["pass"], "forward");
    modules.insert(r["module"].get<std::string>());
    ASSERT_TRUE(r["inputs"][0]["from"].is_number()) << r.dump();
    const json& maker = by_seq.at(r["inputs"][0]["from"].get<int64_t>());
    EXPECT_EQ(maker["outputs"][0]["hash"], r["outputs"][0]["hash"]) << r.dump();
    // The op that made a module's output ran inside that module, unless the module made no op and
    // returned its input (dropout in eval mode): then only module records lie between the two.
    bool inside = maker["module"].get<std::string>().rfind(r["module"].get<std::string>(), 0) == 0;
    for (int64_t s = r["inputs"][0]["from"].get<int64_t>() + 1; !inside && s <= r["seq"].get<int64_t>(); ++s)
      if (s == r["seq"].get<int64_t>()) inside = true;
      else if (by_seq.at(s)["op"] != "module") break;
    EXPECT_TRUE(inside) << r.dump();
  }
  for (const char* m : {"transformer.wte", "transformer.h.0.ln_1", "transformer.h.0.attn.c_attn", "transformer.h.0.attn",
                        "transformer.h.1.mlp.c_fc", "transformer.h.1", "transformer.ln_f"})
    EXPECT_TRUE(modules.count(m)) << m;
}

// One traced pass of a checkpoint (what `loupe audit trace` runs), optionally with a weight changed.
std::string module_trace(const Audit& a, const std::string& ckpt, const std::string& name, const std::string& perturb = "") {
  auto ck = tools::load_checkpoint(ckpt);
  const std::string path = a.sub(name + ".jsonl");
  start_trace(TraceOptions{path, a.sub(name + "_npy"), {}});
  auto model = tools::model_from_checkpoint(ck);
  if (!perturb.empty()) {
    bool found = false;
    for (auto& [n, p] : model->named_parameters())
      if (n == perturb) {
        Tensor w = p.value();
        w.set({0, 0}, w.at({0, 0}) + 0.25);
        found = true;
      }
    EXPECT_TRUE(found) << perturb;
  }
  model->eval();
  const Tensor ids = Tensor::from_ints({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2}, {1, 17});
  const Tensor x = ids.narrow(1, 0, 16).contiguous(), y = ids.narrow(1, 1, 16).contiguous();
  model->loss(x, y).backward();
  stop_trace();
  return path;
}

TEST(AuditDiff, ModulesModeNamesTheModuleWhoseWeightChanged) {
  Audit a;
  tools::TrainOptions o;
  o.config = a.config({"train.max_iters=1"});
  o.out_dir = a.sub("run");
  o.progress = false;
  tools::train(o);
  const std::string base = module_trace(a, a.sub("run"), "base"), same = module_trace(a, a.sub("run"), "same");
  const std::string bad = module_trace(a, a.sub("run"), "bad", "transformer.h.1.mlp.c_fc.weight");
  tools::DiffOptions mods{-1, true};
  TraceDiff d = tools::diff_traces(base, same, mods);
  EXPECT_EQ(d.kind, TraceDiff::Identical) << d.summary();
  EXPECT_TRUE(d.modules);
  EXPECT_GT(d.records, 15);
  for (double tol : {-1.0, 1e-5}) {
    d = tools::diff_traces(base, bad, tools::DiffOptions{tol, true});
    ASSERT_EQ(d.kind, TraceDiff::Diverges) << d.summary();
    EXPECT_EQ(d.a["module"], "transformer.h.1.mlp.c_fc") << d.summary();
    EXPECT_GT(d.max_rel, 0.0) << d.summary();  // both dumped: the values are compared
    EXPECT_NE(d.summary().find("first module that disagrees: 'transformer.h.1.mlp.c_fc'"), std::string::npos);
  }
  // A trace without module records, or without hashes when bits are asked for, is refused by name.
  const std::string none = a.file("none.jsonl", R"({"seq":0,"step":0,"pass":"forward","op":"add","module":"","inputs":[],"outputs":[]})" "\n");
  EXPECT_NE(testing::error_of([&] { tools::diff_traces(base, none, mods); }).find("none.jsonl has no module records"),
            std::string::npos);
  const std::string nohash = a.file("nohash.jsonl",
      R"({"seq":0,"step":0,"pass":"forward","op":"module","module":"transformer.wte","inputs":[],"outputs":[{"dtype":"f32","shape":[1],"min":0,"max":0,"mean":0,"rms":0,"nan":0,"inf":0}]})" "\n");
  EXPECT_NE(testing::error_of([&] { tools::diff_traces(base, nohash, mods); }).find("give --tol"), std::string::npos);
}

TEST(Npy, RoundTripAndBadFilesAreNamed) {
  Audit a;
  const Tensor f = Tensor::from_vector(std::vector<double>{1.5, -2, 3, 4, 5, 6}, {2, 3}, DType::F32);
  const Tensor d = Tensor::from_vector(std::vector<double>{1e-300, 2}, {2}, DType::F64);
  const Tensor i = Tensor::from_ints({7, -8, 9}, {3, 1});
  for (const Tensor* t : {&f, &d, &i}) {
    save_npy(a.sub("t.npy"), *t);
    const Tensor back = load_npy(a.sub("t.npy"));
    EXPECT_EQ(back.dtype(), t->dtype());
    EXPECT_TRUE(testing::bitwise_equal(back, *t));
  }
  const Tensor scalar = Tensor::from_vector(std::vector<double>{2.5}, {}, DType::F64);
  save_npy(a.sub("s.npy"), scalar);
  EXPECT_EQ(load_npy(a.sub("s.npy")).dim(), 0);
  std::string good = npy_bytes(f);
  auto err = [&](std::string bytes) { return testing::error_of([&] { parse_npy(bytes, "x.npy"); }); };
  EXPECT_NE(err(good.substr(0, good.size() - 4)).find("x.npy: not a usable .npy file: shape (2, 3) needs 24 bytes"),
            std::string::npos);
  EXPECT_NE(err("hello").find("magic"), std::string::npos);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_NE(err(fortran).find("fortran_order"), std::string::npos);
  std::string big = good;
  big.replace(big.find("<f4"), 3, ">f4");
  EXPECT_NE(err(big).find("dtype '>f4'"), std::string::npos);
  std::string huge = good;
  huge.replace(huge.find("(2, 3)"), 6, "(9999999999999, 9999999)");
  EXPECT_NE(err(huge).find("too large"), std::string::npos) << err(huge);
}

// What the fuzzers found, kept as named cases: a damaged field is refused naming file, line and
// field; a shape with a 0 dim and huge others is refused (its strides would overflow); a trace or
// config naming a device instead of a file is refused rather than read forever.
TEST(Audit, DamagedFieldsAndDevicesAreRefusedByName) {
  Audit a;
  const std::string ok = a.file("ok.jsonl",
      R"({"seq":0,"step":0,"pass":"forward","op":"add","module":"","inputs":[],"outputs":[{"dtype":"f32","shape":[1],"min":0,"max":0,"mean":0,"rms":0,"nan":0,"inf":0,"hash":"00"}]})" "\n");
  const std::string bad = a.file("bad.jsonl", "\n"
      R"({"seq":0,"step":0,"pass":"forward","op":"add","module":"","inputs":[],"outputs":[{"dtype":["f32"],"shape":[1]}]})" "\n");
  std::string err = testing::error_of([&] { tools::diff_traces(ok, bad); });
  EXPECT_NE(err.find("bad.jsonl:2: field \"outputs[].dtype\" must be a string"), std::string::npos) << err;
  const std::string badshape = a.file("shape.jsonl",
      R"({"seq":0,"step":0,"pass":"forward","op":"add","module":"","inputs":[],"outputs":[{"dtype":"f32","shape":[1.5]}]})" "\n");
  err = testing::error_of([&] { tools::diff_traces(ok, badshape); });
  EXPECT_NE(err.find("shape.jsonl:1: field \"outputs[].shape\""), std::string::npos) << err;
  err = testing::error_of([&] { load_npy("/dev/zero"); });
  EXPECT_NE(err.find("'/dev/zero': not a regular file"), std::string::npos) << err;
  err = testing::error_of([&] { Tensor::empty({0, int64_t(1) << 40, int64_t(1) << 40}, DType::F32); });
  EXPECT_NE(err.find("too large"), std::string::npos) << err;
}

// The attention maps of causal_attention are softmax(q·kᵀ/√D) under the causal mask, computed
// here from the op's own inputs (caught by an op hook).
TEST(AttentionProbe, GptMapsAreTheSoftmaxOfItsScores) {
  json mc = {{"type", "gpt"}, {"n_layer", 2}, {"n_head", 2}, {"n_embd", 16}, {"block_size", 8}, {"vocab_size", 11}};
  auto m = models::build_model(mc);
  m->eval();
  std::vector<std::pair<Tensor, Tensor>> qk;
  const int hook = add_op_hook([&](const OpEvent& ev) {
    if (std::string(ev.op) == "causal_attention" && !ev.backward)
      qk.emplace_back(ev.inputs[0]->to(DType::F64).contiguous(), ev.inputs[1]->to(DType::F64).contiguous());
  });
  AttentionProbe probe;
  {
    NoGrad ng;
    m->forward(Tensor::from_ints({1, 5, 2, 7, 3, 3, 9}, {1, 7}));
  }
  remove_op_hook(hook);
  ASSERT_EQ(probe.maps().size(), 2u);
  ASSERT_EQ(qk.size(), 2u);
  EXPECT_EQ(probe.maps()[1].module, "transformer.h.1.attn");
  for (size_t l = 0; l < 2; ++l) {
    const Tensor &q = qk[l].first, &k = qk[l].second, &P = probe.maps()[l].probs;
    const int64_t H = q.size(1), T = q.size(2), D = q.size(3);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(size_t(i + 1));
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < D; ++e) dot += q.at({0, h, i, e}) * k.at({0, h, j, e});
          s[size_t(j)] = dot / std::sqrt(double(D));
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& v : s) sum += (v = std::exp(v - mx));
        for (int64_t j = 0; j < T; ++j)
          EXPECT_NEAR(P.at({0, h, i, j}), j <= i ? s[size_t(j)] / sum : 0.0, 1e-12) << l << " " << h << " " << i << " " << j;
      }
  }
}

TEST(AttentionPlot, OnePanelPerHeadAndTokensEscaped) {
  AttentionProbe probe;
  report_attention(Tensor::from_vector(std::vector<double>{1, 0, 0, .5, .5, 0, .2, .3, .5}, {1, 1, 3, 3}, DType::F64));
  report_attention(Tensor::from_vector(std::vector<double>(18, 0.0), {1, 2, 3, 3}, DType::F64));
  const std::string svg = tools::attention_svg(probe.maps(), {"<", " a", "\xff"}, "t & u");
  size_t panels = 0;
  for (size_t at = svg.find("<g>"); at != std::string::npos; at = svg.find("<g>", at + 1)) ++panels;
  EXPECT_EQ(panels, 3u);
  EXPECT_NE(svg.find(">&lt;</text>"), std::string::npos);
  EXPECT_NE(svg.find("\xE2\x90\xA3" "a</text>"), std::string::npos);  // a leading space made visible
  EXPECT_NE(svg.find("\xEF\xBF\xBD</text>"), std::string::npos);   // a bad byte as U+FFFD
  EXPECT_NE(svg.find("t &amp; u"), std::string::npos);
  EXPECT_EQ(svg.find("\xff"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"rgb(8,48,107)\""), std::string::npos);  // weight 1: the darkest shade
}

TEST(Anomaly, StopsAtTheOpThatMadeTheFirstNaNAndKeepsTheLastGoodCheckpoint) {
  Audit a;
  tools::TrainOptions o;
  o.config = a.config({"train.lr=1e6", "train.grad_clip=0", "train.warmup_iters=0", "model.dropout=0.0"});
  o.out_dir = a.sub("run");
  o.progress = false;
  o.anomaly = true;
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
    if (o.step == 0) {  // same weights: rounding only
      EXPECT_LT(o.rel, 1e-5) << o.op << " " << o.pass << " " << o.module;
    }
  ASSERT_EQ(r.loss32.size(), 2u);
  EXPECT_NEAR(r.loss32[0], r.loss64[0], 1e-5);
  EXPECT_NE(r.table(5).find("worst ops"), std::string::npos);
}

}  // namespace
}  // namespace loupe
