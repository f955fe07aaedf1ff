// The trainer library (tools/train/trainer.h): a tiny GPT on a tiny corpus for a few
// steps — metrics, loss plot, checkpoints, exact stop/resume, sampling, errors.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_files.h"

#include "nn/safetensors.h"
#include "tensor/parallel.h"
#include "tensor/file_io.h"
#include "tests/testing.h"
#include "tools/train/checkpoint.h"
#include "tools/train/run_config.h"
#include "tools/train/sampler.h"
#include "tools/train/evaluate.h"
#include "tools/train/metrics.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"
#include "tools/train/trainer.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::bitwise_equal;

// Scratch directory named after this suite (tests/test_files.h).
struct TempDir : testing::ScratchDir {
  TempDir() : ScratchDir("loupe_train_") {}
};
using testing::error_of;

std::string corpus_text() {
  std::string s;
  for (int i = 0; i < 60; ++i)
    s += "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
         "First Citizen:\nYou are all resolved rather to die than to famish?\n\n";
  return s;
}

json tiny_config(const TempDir& d, double dropout = 0.0) {
  const std::string corpus = d.file("corpus.txt", corpus_text());
  return json{{"model", {{"type", "gpt"}, {"n_layer", 1}, {"n_head", 2}, {"n_embd", 16}, {"block_size", 16},
                         {"dropout", dropout}}},
              {"data", {{"corpus", corpus}, {"tokenizer", "char"}}},
              {"train", {{"batch_size", 4}, {"max_iters", 6}, {"lr", 1e-2}, {"warmup_iters", 2},
                         {"lr_decay_iters", 6}, {"eval_interval", 3}, {"eval_iters", 2}, {"log_interval", 1},
                         {"ckpt_interval", 2}}}};
}

json write_and_load(const TempDir& d, const json& cfg, const std::vector<std::string>& sets = {}) {
  return tools::load_run_config(d.file("cfg.json", cfg.dump()), sets).to_json();
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) rows.push_back(json::parse(line));
  return rows;
}

tools::TrainResult run(const json& cfg, const std::string& out, int64_t stop_after = -1, bool resume = false) {
  tools::TrainOptions o;
  o.config = tools::RunConfig::from_json(cfg, "test config");
  o.out_dir = out;
  o.progress = false;
  o.stop_after = stop_after;
  o.resume = resume;
  return tools::train(o);
}

TEST(Train, WritesMetricsPlotAndCheckpoint) {
  TempDir d;
  const json cfg = write_and_load(d, tiny_config(d));
  const auto r = run(cfg, d.sub("run"));
  EXPECT_EQ(r.steps_done, 6);
  EXPECT_GT(r.tokens_per_sec, 0);
  EXPECT_TRUE(std::isfinite(r.val_loss));

  const auto rows = read_jsonl(d.sub("run/metrics.jsonl"));
  std::vector<int64_t> train_steps, eval_steps;
  for (auto& row : rows) (row.contains("val_loss") ? eval_steps : train_steps).push_back(row["step"]);
  EXPECT_EQ(train_steps, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{0, 3, 6}));
  // Initial loss ≈ ln(vocab) (small init), and the last step's lr is the schedule's.
  const double vocab = double(json::parse(std::ifstream(d.sub("run/config.json")))["model"]["vocab_size"]);
  EXPECT_NEAR(rows[0]["val_loss"].get<double>(), std::log(vocab), 0.3);
  EXPECT_LT(rows.back()["val_loss"].get<double>(), rows[0]["val_loss"].get<double>());
  EXPECT_DOUBLE_EQ(rows[1]["lr"].get<double>(), 1e-2 / 3);  // warmup: lr·(0+1)/(2+1)

  std::ifstream svg(d.sub("run/loss.svg"));
  const std::string s((std::istreambuf_iterator<char>(svg)), {});
  EXPECT_EQ(s.rfind("<svg", 0), 0u);
  EXPECT_NE(s.find("val"), std::string::npos);
  EXPECT_NE(s.find("<polyline"), std::string::npos);

  const auto ck = tools::load_checkpoint(d.sub("run"));
  EXPECT_EQ(ck.step, 6);
  EXPECT_EQ(ck.config.model["n_embd"], 16);
  EXPECT_EQ(ck.tokenizer->type(), "char");
  EXPECT_EQ(ck.optim_state.at("step").item(), 6);
  auto model = tools::model_from_checkpoint(ck);
  EXPECT_EQ(model->vocab_size(), int64_t(vocab));
}

TEST(Train, StopAndResumeIsBitwiseExact) {
  TempDir d;
  const json cfg = write_and_load(d, tiny_config(d, /*dropout=*/0.1));  // dropout: its counters must resume too
  run(cfg, d.sub("full"));
  const auto stopped = run(cfg, d.sub("split"), /*stop_after=*/3);
  EXPECT_EQ(stopped.steps_done, 3);
  EXPECT_EQ(tools::load_checkpoint(d.sub("split")).step, 3);
  const auto resumed = run(cfg, d.sub("split"), -1, /*resume=*/true);
  EXPECT_EQ(resumed.steps_this_run, 3);

  const auto a = nn::load_safetensors(tools::checkpoint_path(d.sub("full")));
  const auto b = nn::load_safetensors(tools::checkpoint_path(d.sub("split")));
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, v] : a) EXPECT_TRUE(bitwise_equal(v, b.at(k))) << k;
  // The metrics of the resumed run continue the file: same steps and losses.
  const auto ra = read_jsonl(d.sub("full/metrics.jsonl")), rb = read_jsonl(d.sub("split/metrics.jsonl"));
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(ra[i]["step"], rb[i]["step"]) << i;
    EXPECT_EQ(ra[i].value("loss", -1.0), rb[i].value("loss", -1.0)) << i;
    EXPECT_EQ(ra[i].value("val_loss", -1.0), rb[i].value("val_loss", -1.0)) << i;
  }
}

// A checkpoint records the data it trained on; other data is refused by eval, resume and compare
// (naming the checkpoint, the corpus and both sets of hashes) unless allowed.
TEST(Train, CheckpointIsTiedToItsData) {
  TempDir d;
  const json cfg = write_and_load(d, tiny_config(d));
  run(cfg, d.sub("run"), /*stop_after=*/3);
  auto ck = tools::load_checkpoint(d.sub("run"));
  ASSERT_TRUE(ck.data.contains("corpus_fnv1a64") && ck.data.contains("tokens_xxh64")) << ck.data.dump();
  EXPECT_EQ(tools::open_checkpoint_data(ck, d.sub("run"), false).dataset->identity(), ck.data);
  const std::string before = ck.data["tokens_xxh64"];

  d.file("corpus.txt", corpus_text() + "All:\nSpeak.\n");  // the same characters, other text
  std::string err = error_of([&] { tools::open_checkpoint_data(ck, d.sub("run"), false); });
  EXPECT_NE(err.find("ckpt.safetensors' was trained on other data"), std::string::npos) << err;
  EXPECT_NE(err.find(before), std::string::npos) << err;
  EXPECT_NE(err.find("corpus.txt"), std::string::npos) << err;
  EXPECT_NE(err.find("--allow-other-data"), std::string::npos) << err;
  EXPECT_NE(tools::open_checkpoint_data(ck, d.sub("run"), true).dataset->identity()["tokens_xxh64"], before);
  err = error_of([&] { run(cfg, d.sub("run"), -1, /*resume=*/true); });
  EXPECT_NE(err.find("trained on other data"), std::string::npos) << err;
  tools::TrainOptions o;
  o.config = tools::RunConfig::from_json(cfg, "test config");
  o.out_dir = d.sub("run");
  o.progress = false;
  o.resume = true;
  o.allow_other_data = true;
  EXPECT_EQ(tools::train(o).steps_done, 6);
}

// metrics.jsonl on resume: a torn last line (an interrupted write) is dropped; any other bad line
// is refused, naming the file and line. Every row logs the run's wall time, which goes on from
// the interrupted part's instead of starting again at 0.
TEST(Train, ResumeReadsMetricsStrictlyAndKeepsTheWallClock) {
  TempDir d;
  const json cfg = write_and_load(d, tiny_config(d));
  run(cfg, d.sub("torn"), /*stop_after=*/3);
  const std::string m = d.sub("torn/metrics.jsonl");
  const auto before = read_jsonl(m);
  double first = 0;
  for (auto& r : before) {
    ASSERT_TRUE(r.contains("elapsed_s")) << r.dump();
    EXPECT_GE(r["elapsed_s"].get<double>(), first) << r.dump();
    first = r["elapsed_s"].get<double>();
  }
  { std::ofstream(m, std::ios::app) << "{\"step\": 3, \"loss\": 1.2"; }  // torn: no newline
  run(cfg, d.sub("torn"), -1, /*resume=*/true);
  const auto after = read_jsonl(m);
  ASSERT_EQ(after.size(), before.size() + 5);  // evaluation at 3, steps 3, 4, 5, the final evaluation
  for (size_t i = before.size(); i < after.size(); ++i) EXPECT_GT(after[i]["elapsed_s"].get<double>(), first) << i;

  run(cfg, d.sub("bad"), /*stop_after=*/3);
  const std::string good = read_file(d.sub("bad/metrics.jsonl"));
  std::string text = good;
  text.insert(text.find('\n') + 1, "{\"step\": oops}\n");  // a broken second line, the file still ends in \n
  write_file_atomic(d.sub("bad/metrics.jsonl"), text);
  const std::string err = error_of([&] { run(cfg, d.sub("bad"), -1, /*resume=*/true); });
  EXPECT_NE(err.find("metrics.jsonl' line 2: not a metrics row"), std::string::npos) << err;
  write_file_atomic(d.sub("bad/metrics.jsonl"), good + "{\"step\": 9");  // torn, where no torn line is allowed
  EXPECT_NE(error_of([&] { tools::read_metrics_rows(d.sub("bad/metrics.jsonl"), false); }).find("ends inside it"),
            std::string::npos);
}

TEST(Train, OneVsTwoThreadsBitwise) {
  TempDir d;
  json cfg = write_and_load(d, tiny_config(d), {"train.max_iters=3", "train.grad_accum=2"});
  set_num_threads(1);
  run(cfg, d.sub("t1"));
  set_num_threads(2);
  run(cfg, d.sub("t2"));
  const auto a = nn::load_safetensors(tools::checkpoint_path(d.sub("t1")));
  const auto b = nn::load_safetensors(tools::checkpoint_path(d.sub("t2")));
  for (auto& [k, v] : a) EXPECT_TRUE(bitwise_equal(v, b.at(k))) << k;
}

TEST(Train, SamplingIsSeededAndSurvivesTheContextLimit) {
  TempDir d;
  run(write_and_load(d, tiny_config(d)), d.sub("run"));
  const auto ck = tools::load_checkpoint(d.sub("run"));
  auto model = tools::model_from_checkpoint(ck);
  const auto prompt = ck.tokenizer->encode("First");
  tools::SampleOptions o;
  o.tokens = 40;  // > block_size 16: the cache is rebuilt on the way
  o.top_k = 5;
  o.seed = 3;
  std::vector<int32_t> streamed;
  const auto a = tools::generate(*model, prompt, o, [&](int32_t id) { streamed.push_back(id); });
  const auto b = tools::generate(*model, prompt, o);
  ASSERT_EQ(a.size(), 40u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, streamed);
  o.seed = 4;
  EXPECT_NE(tools::generate(*model, prompt, o), a);
  // Greedy decoding through the cache equals greedy decoding by full forward passes.
  o.temperature = 0;
  o.tokens = 20;
  const auto g = tools::generate(*model, prompt, o);
  std::vector<int32_t> all = prompt;
  NoGrad ng;
  model->eval();
  for (int i = 0; i < 20; ++i) {
    const int64_t n = std::min<int64_t>(int64_t(all.size()), 16);
    std::vector<int64_t> ctx(all.end() - n, all.end());
    const Tensor logits = model->forward(Tensor::from_ints(ctx, {1, n})).value();
    const auto row = logits.select(0, 0).select(0, n - 1).to_vector();
    all.push_back(int32_t(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  // Identical while the context fits (the first 16 - 5 + 1 tokens); afterwards the cache
  // window (last 8 tokens re-prefilled) differs from the full sliding window by design.
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(g[i], all[prompt.size() + i]) << i;
}

// estimate_loss draws its batches from the seed it is given (loupe eval --seed): the same seed
// gives the same estimate, another seed other batches and so another estimate.
TEST(Train, LossEstimateDependsOnlyOnTheDrawSeed) {
  TempDir d;
  run(write_and_load(d, tiny_config(d)), d.sub("run"));
  const auto ck = tools::load_checkpoint(d.sub("run"));
  auto model = tools::model_from_checkpoint(ck);
  auto data = tools::open_data(ck.config.data, ck.tokenizer.get());
  auto est = [&](uint64_t seed) {
    return tools::estimate_loss(*model, *data.dataset, text::Split::Val, 4, 16, 3, seed);
  };
  const double a = est(11), b = est(12);
  EXPECT_EQ(a, est(11));
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::isfinite(a) && std::isfinite(b));
}

// split_loss: every token of the split once, whatever the batch; against a per-token sum in f64.
TEST(Train, SplitLossAveragesEveryTokenOfTheSplit) {
  TempDir d;
  run(write_and_load(d, tiny_config(d)), d.sub("run"));
  const auto ck = tools::load_checkpoint(d.sub("run"));
  auto model = tools::model_from_checkpoint(ck);
  model->eval();
  auto data = tools::open_data(ck.config.data, ck.tokenizer.get());
  const auto& ds = *data.dataset;
  const int64_t n = ds.split_size(text::Split::Val) - 1, block = 16;
  ASSERT_NE(n % block, 0) << "the test wants a short last window";
  // Reference: window by window, each token's -log softmax summed in f64.
  double ref = 0;
  {
    NoGrad ng;
    for (int64_t w = 0; w < n; w += block) {
      const int64_t T = std::min(block, n - w);
      Tensor x = Tensor::empty({1, T}, DType::I64);
      for (int64_t t = 0; t < T; ++t) x.data<int64_t>()[t] = ds.token(text::Split::Val, w + t);
      const Tensor logits = model->forward(x).value().to(DType::F64).contiguous();
      const int64_t V = logits.size(-1);
      const double* p = logits.data<double>();
      for (int64_t t = 0; t < T; ++t) {
        double mx = -INFINITY, z = 0;
        for (int64_t v = 0; v < V; ++v) mx = std::max(mx, p[t * V + v]);
        for (int64_t v = 0; v < V; ++v) z += std::exp(p[t * V + v] - mx);
        ref += std::log(z) + mx - p[t * V + ds.token(text::Split::Val, w + t + 1)];
      }
    }
  }
  for (int64_t batch : {1, 3, 64}) {
    int64_t tokens = 0;
    const double l = tools::split_loss(*model, ds, text::Split::Val, block, batch, &tokens);
    EXPECT_EQ(tokens, n);
    EXPECT_NEAR(l, ref / double(n), 1e-5) << "batch " << batch;
  }
}

TEST(Sample, SampleTokenRule) {
  const std::vector<double> logits = {0.0, std::log(3.0), -1.0};
  EXPECT_EQ(tools::sample_token(logits, 0.0, 0, 0.99), 1);  // greedy
  EXPECT_EQ(tools::sample_token(logits, 1.0, 1, 0.99), 1);  // top-1
  // top-2: p = (1/4 for id 0, 3/4 for id 1), ordered by logit: id 1 covers [0, 0.75).
  EXPECT_EQ(tools::sample_token(logits, 1.0, 2, 0.70), 1);
  EXPECT_EQ(tools::sample_token(logits, 1.0, 2, 0.80), 0);
  // All three: weights 3, 1, e^-1 over 4 + e^-1.
  EXPECT_EQ(tools::sample_token(logits, 1.0, 0, (4.0 + 0.5 * std::exp(-1.0)) / (4.0 + std::exp(-1.0))), 2);
  EXPECT_THROW(tools::sample_token(logits, -1.0, 0, 0.5), Error);
}

TEST(Train, ConfigErrorsNameTheFileAndKey) {
  TempDir d;
  auto err = error_of([&] { tools::load_run_config(d.sub("missing.json")); });
  EXPECT_NE(err.find("missing.json"), std::string::npos) << err;
  err = error_of([&] { tools::load_run_config(d.file("bad.json", "{\"model\": {\"type\": ")); });
  EXPECT_NE(err.find("bad.json"), std::string::npos) << err;
  const json cfg = tiny_config(d);
  err = error_of([&] { write_and_load(d, cfg, {"train.learning_rate=3"}); });
  EXPECT_NE(err.find("train.learning_rate"), std::string::npos) << err;
  err = error_of([&] { write_and_load(d, cfg, {"optim.lr=3"}); });
  EXPECT_NE(err.find("optim"), std::string::npos) << err;
  err = error_of([&] { write_and_load(d, cfg, {"train.lr"}); });
  EXPECT_NE(err.find("section.key=value"), std::string::npos) << err;
  json bad = cfg;
  bad["train"]["batchsize"] = 3;
  err = error_of([&] { write_and_load(d, bad); });
  EXPECT_NE(err.find("batchsize"), std::string::npos) << err;
  EXPECT_NE(err.find("cfg.json"), std::string::npos) << err;
  bad = cfg;
  bad["train"]["max_iters"] = "ten";
  err = error_of([&] { write_and_load(d, bad); });
  EXPECT_NE(err.find("max_iters"), std::string::npos) << err;
  // Integer keys have ranges a real run can use; numbers too where a value outside makes no sense.
  for (auto [set, want] : std::vector<std::pair<std::string, std::string>>{
           {"train.grad_accum=100000000", "\"train.grad_accum\" must be an integer in [1, 65536], got 100000000"},
           {"train.batch_size=0", "\"train.batch_size\" must be an integer in [1, 65536]"},
           {"train.warmup_iters=-5", "\"train.warmup_iters\" must be an integer in [0, 1000000000]"},
           {"train.max_iters=18446744073709551615", "\"train.max_iters\" must be an integer in [1, 1000000000]"},
           {"data.bpe_vocab=1e12", "\"data.bpe_vocab\" must be"},
           {"train.beta1=1.5", "\"train.beta1\" must be in [0, 1)"},
           {"train.eps=0", "\"train.eps\" must be in (0, 1]"}}) {
    err = error_of([&] { write_and_load(d, cfg, {set}); });
    EXPECT_NE(err.find(want), std::string::npos) << set << ": " << err;
  }
  err = error_of([&] { run(write_and_load(d, cfg, {"model.n_layer=2147483648"}), d.sub("deep")); });
  EXPECT_NE(err.find("\"n_layer\" must be an integer in [1, 1024], got 2147483648"), std::string::npos) << err;
  // --set values: JSON when they parse, else strings.
  const json ok = write_and_load(d, cfg, {"train.lr=3e-4", "train.schedule=constant", "model.n_layer=2"});
  EXPECT_EQ(ok["train"]["lr"], 3e-4);
  EXPECT_EQ(ok["train"]["schedule"], "constant");
  EXPECT_EQ(ok["model"]["n_layer"], 2);
  // A model key the model does not know fails when the model is built, naming it.
  err = error_of([&] { run(write_and_load(d, cfg, {"model.n_layers=2"}), d.sub("x")); });
  EXPECT_NE(err.find("n_layers"), std::string::npos) << err;
  err = error_of([&] { run(write_and_load(d, cfg, {"data.corpus=nowhere.txt"}), d.sub("y")); });
  EXPECT_NE(err.find("nowhere.txt"), std::string::npos) << err;
  err = error_of([&] { run(write_and_load(d, cfg), d.sub("none"), -1, true); });
  EXPECT_NE(err.find("none"), std::string::npos) << err;
  // Data too short for the block, and an empty corpus: named, and nothing is written.
  err = error_of([&] { run(write_and_load(d, cfg, {"model.block_size=2000"}), d.sub("long")); });
  EXPECT_NE(err.find("corpus.txt"), std::string::npos) << err;
  EXPECT_NE(err.find("block_size"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d.sub("long")));
  d.file("empty.txt", "");
  err = error_of([&] { run(write_and_load(d, cfg, {"data.corpus=\"" + d.sub("empty.txt") + "\""}), d.sub("e")); });
  EXPECT_NE(err.find("empty"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d.sub("e")));
  // A corrupted or truncated checkpoint names the file.
  run(write_and_load(d, cfg, {"train.max_iters=1"}), d.sub("short"));
  const std::string ck = d.sub("short") + "/ckpt.safetensors";
  fs::resize_file(ck, fs::file_size(ck) / 2);
  err = error_of([&] { tools::load_checkpoint(d.sub("short")); });
  EXPECT_NE(err.find("ckpt.safetensors"), std::string::npos) << err;

  // Edited metadata: the config passes the config file's checks, the step must be a number; each
  // error names the checkpoint file and the key.
  run(write_and_load(d, cfg, {"train.max_iters=1"}), d.sub("edited"));
  const std::string edited = d.sub("edited") + "/ckpt.safetensors";
  std::map<std::string, std::string> meta;
  const auto tensors = nn::load_safetensors(edited, &meta);
  const auto edit = [&](const std::string& key, const std::string& value) {
    auto m = meta;
    m[key] = value;
    nn::save_safetensors(edited, tensors, m);
    return error_of([&] { tools::load_checkpoint(d.sub("edited")); });
  };
  json huge = json::parse(meta.at("config"));
  huge["train"]["eval_iters"] = 1000000000000LL;
  err = edit("config", huge.dump());
  EXPECT_NE(err.find("ckpt.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("eval_iters"), std::string::npos) << err;
  huge["train"].erase("eval_iters");
  huge["train"]["batch"] = 4;
  err = edit("config", huge.dump());
  EXPECT_NE(err.find("unknown key \"train.batch\""), std::string::npos) << err;
  for (const char* step : {"seven", "12abc", "-3", ""}) {
    err = edit("step", step);
    EXPECT_NE(err.find("ckpt.safetensors"), std::string::npos) << err;
    EXPECT_NE(err.find("\"step\" must be a non-negative integer"), std::string::npos) << step << ": " << err;
  }
  EXPECT_EQ(edit("step", "1"), "(no error)");  // the file as written loads again

  fs::create_directories(d.sub("broken"));
  d.file("broken/ckpt.safetensors", "garbage!");
  err = error_of([&] { tools::load_checkpoint(d.sub("broken")); });
  EXPECT_NE(err.find("ckpt.safetensors"), std::string::npos) << err;
}

}  // namespace
}  // namespace loupe
