#include "tools/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "autograd/ops.h"
#include "optim/clip.h"
#include "optim/factory.h"
#include "optim/schedule.h"
#include "tools/checkpoint.h"
#include "tools/loss_plot.h"
#include "tools/run_config.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Evaluation batches use their own seed so they never coincide with training batches.
static uint64_t eval_seed(uint64_t seed) { return seed ^ 0x9E3779B97F4A7C15ULL; }

Var lm_loss(const Var& logits, const Tensor& targets) {
  const int64_t V = logits.size(-1);
  return cross_entropy(reshape(logits, {-1, V}), targets.reshape({-1}));
}

Data open_data(const json& d, const text::Tokenizer* tokenizer) {
  Data out;
  const std::string corpus = d.at("corpus").get<std::string>();
  const std::string cache = d.at("cache_dir").get<std::string>();
  LOUPE_CHECK(fs::exists(corpus), "data.corpus: no such file '", corpus, "'");
  out.tokenizer = tokenizer ? text::tokenizer_from_json(tokenizer->to_json(), "from checkpoint")
                            : text::tokenizer_for_corpus(d.at("tokenizer").get<std::string>(), corpus,
                                                         d.at("bpe_vocab").get<int64_t>(), cache);
  out.dataset = std::make_unique<text::TokenDataset>(corpus, *out.tokenizer, d.at("val_fraction").get<double>(), cache);
  return out;
}

double estimate_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t batch,
                     int64_t block, int64_t iters, uint64_t seed) {
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  double sum = 0;
  Tensor x, y;
  for (int64_t i = 0; i < iters; ++i) {
    ds.batch(split, batch, block, seed, uint64_t(i), x, y);
    sum += lm_loss(model.forward(x), y).item();
  }
  model.train(was_training);
  return sum / double(iters);
}

static std::string human_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) / 60) % 60);
  return buf;
}

// metrics.jsonl rows and the loss curves drawn from them.
struct Metrics {
  std::string path;
  LossSeries train{"train", "#1f77b4", {}, false}, train_eval{"train (eval)", "#2ca02c", {}, true},
      val{"val", "#ff7f0e", {}, true};
  void add(const json& row) {
    const double step = row["step"].get<double>();
    if (row.contains("loss")) train.points.push_back({step, row["loss"].get<double>()});
    if (row.contains("val_loss")) val.points.push_back({step, row["val_loss"].get<double>()});
    if (row.contains("train_loss")) train_eval.points.push_back({step, row["train_loss"].get<double>()});
  }
  // On resume: keep (and re-read) only the rows of steps before `step`.
  void reload(int64_t step) {
    std::vector<std::string> keep;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
      try {
        json row = json::parse(line);
        if (row.at("step").get<int64_t>() < step) keep.push_back(line), add(row);
      } catch (const std::exception&) {
        // a torn last line from an interrupted run: drop it
      }
    }
    std::string all;
    for (auto& l : keep) all += l + "\n";
    write_file_atomic(path, all);
  }
  void append(const json& row) {
    std::ofstream f(path, std::ios::app);
    f << row.dump() << "\n";
    LOUPE_CHECK(f.good(), "cannot append to '", path, "'");
    add(row);
  }
};

static std::string format_stat(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

TrainResult train(const TrainOptions& opt) {
  json cfg = opt.config;
  const bool write = !opt.out_dir.empty();
  LOUPE_CHECK(write || !opt.resume, "train: --resume needs an output directory");

  std::unique_ptr<Checkpoint> ck;
  if (opt.resume) {
    ck = std::make_unique<Checkpoint>(load_checkpoint(opt.out_dir));
    // The model and data must be the checkpoint's; the train section may change (e.g. max_iters).
    json want = ck->config;
    LOUPE_CHECK(want["data"] == cfg["data"], "train --resume: the data section differs from the checkpoint's (",
                want["data"].dump(), " vs ", cfg["data"].dump(), ")");
    for (auto& [k, v] : cfg["model"].items())
      LOUPE_CHECK(want["model"].contains(k) && want["model"][k] == v, "train --resume: model key \"", k,
                  "\" differs from the checkpoint's model config ", want["model"].dump());
    cfg["model"] = want["model"];
  }

  // ---- data and model ----
  Data data = open_data(cfg["data"], ck ? ck->tokenizer.get() : nullptr);
  json& mcfg = cfg["model"];
  if (!mcfg.contains("vocab_size")) mcfg["vocab_size"] = data.tokenizer->vocab_size();
  LOUPE_CHECK(mcfg["vocab_size"].get<int64_t>() >= data.tokenizer->vocab_size(), "model.vocab_size ",
              mcfg["vocab_size"].dump(), " is smaller than the tokenizer's ", data.tokenizer->vocab_size());
  const json& t = cfg["train"];
  if (t["dtype"] != "f32" && !mcfg.contains("dtype")) mcfg["dtype"] = t["dtype"];
  // Checked before the model is built (a huge block_size would allocate a huge model first)
  // and again with the model's resolved block size, all before anything is written.
  if (mcfg.contains("block_size") && mcfg["block_size"].is_number_integer())
    data.dataset->check_block(mcfg["block_size"].get<int64_t>());
  std::shared_ptr<models::LanguageModel> model = models::build_model(mcfg);
  cfg["model"] = model->config();  // the full resolved config goes into the checkpoint
  model->train();
  data.dataset->check_block(model->block_size());

  const int64_t B = t["batch_size"], T = model->block_size(), accum = t["grad_accum"], max_iters = t["max_iters"];
  const uint64_t seed = t["seed"].get<uint64_t>();
  const auto named = model->named_parameters();
  const auto names = model->decay_parameter_names();
  auto optimizer = optim::make_optimizer(t, named, std::set<std::string>(names.begin(), names.end()));
  std::vector<Var> params;
  for (auto& [_, p] : named) params.push_back(p);

  optim::LrSchedule sched;
  sched.kind = optim::LrSchedule::parse_kind(t["schedule"]);
  sched.lr = t["lr"], sched.min_lr = t["min_lr"], sched.warmup_iters = t["warmup_iters"];
  sched.decay_iters = t["lr_decay_iters"], sched.inv_sqrt_cap = t["inv_sqrt_cap"];
  sched.inv_sqrt_scale = t["inv_sqrt_scale"];

  int64_t start = 0;
  if (ck) {
    model->load_state_dict(ck->model_state);
    optimizer->load_state_dict(ck->optim_state);
    start = ck->step;
    ck.reset();
  }

  Metrics metrics;
  if (write) {
    fs::create_directories(opt.out_dir);
    metrics.path = (fs::path(opt.out_dir) / "metrics.jsonl").string();
    if (opt.resume) metrics.reload(start);
    else write_file_atomic(metrics.path, "");
    write_file_atomic((fs::path(opt.out_dir) / "config.json").string(), cfg.dump(2) + "\n");
    // Where the token data is (for reference scripts, e.g. tools/reference/torch_train.py).
    const json data_info = {{"token_file", fs::absolute(data.dataset->path()).string()},
                            {"bytes_per_token", data.dataset->bytes_per_token()},
                            {"tokens", data.dataset->size()},
                            {"train_tokens", data.dataset->split_size(text::Split::Train)},
                            {"vocab_size", data.tokenizer->vocab_size()}};
    write_file_atomic((fs::path(opt.out_dir) / "data.json").string(), data_info.dump(2) + "\n");
  }
  const std::string title = mcfg["type"].get<std::string>() + ", " + std::to_string(model->num_parameters()) +
                            " parameters, " + data.tokenizer->type() + " tokens";
  auto save = [&](int64_t step) {
    if (write) save_checkpoint(opt.out_dir, cfg, step, *data.tokenizer, *model, optimizer->state_dict());
  };
  const bool tty = ::isatty(2);
  if (opt.progress)
    std::fprintf(stderr, "loupe train: %s, %lld train / %lld val tokens, %s from step %lld to %lld\n",
                 title.c_str(), (long long)data.dataset->split_size(text::Split::Train),
                 (long long)data.dataset->split_size(text::Split::Val), opt.out_dir.empty() ? "(no output)" : opt.out_dir.c_str(),
                 (long long)start, (long long)max_iters);

  TrainResult res;
  res.num_parameters = model->num_parameters();
  res.tokens_per_step = B * T * accum;
  const int64_t eval_interval = t["eval_interval"], eval_iters = t["eval_iters"], log_interval = t["log_interval"];
  const int64_t ckpt_interval = t["ckpt_interval"];
  const double clip = t["grad_clip"];
  const auto run_start = Clock::now();
  double train_seconds = 0;
  int64_t tokens_done = 0;

  auto evaluate = [&](int64_t step) {
    if (!opt.evaluate) return;
    const double tr = estimate_loss(*model, *data.dataset, text::Split::Train, B, T, eval_iters, eval_seed(seed));
    const double va = estimate_loss(*model, *data.dataset, text::Split::Val, B, T, eval_iters, eval_seed(seed));
    res.val_loss = va;
    if (opt.progress)
      std::fprintf(stderr, "%sstep %lld: train loss %.4f, val loss %.4f\n", tty ? "\r\033[K" : "", (long long)step, tr, va);
    if (write) {
      metrics.append({{"step", step}, {"train_loss", tr}, {"val_loss", va}});
      write_file_atomic((fs::path(opt.out_dir) / "loss.svg").string(),
                              loss_svg({metrics.train, metrics.train_eval, metrics.val}, title));
    }
  };

  int64_t it = start;
  for (; it < max_iters; ++it) {
    if (opt.stop_after >= 0 && it >= opt.stop_after) break;  // before evaluating: the resumed run evaluates here
    if (it % eval_interval == 0) evaluate(it);
    const auto t0 = Clock::now();
    const double lr = sched(it);
    optimizer->set_lr(lr);
    set_step(seed, it);  // dropout masks are keyed by (seed, step, module path, call)
    double loss_sum = 0;
    Tensor x, y;
    for (int64_t micro = 0; micro < accum; ++micro) {
      data.dataset->batch(text::Split::Train, B, T, seed, uint64_t(it * accum + micro), x, y);
      Var loss = lm_loss(model->forward(x), y);
      loss_sum += loss.item();
      (accum == 1 ? loss : loss * (1.0 / double(accum))).backward();
    }
    const double norm = clip > 0 || write ? optim::grad_global_norm(params) : 0.0;
    optimizer->step(clip > 0 ? optim::clip_coefficient(norm, clip) : 1.0);
    optimizer->zero_grad();
    const double loss = loss_sum / double(accum);
    LOUPE_CHECK(std::isfinite(loss), "train: loss is ", loss, " at step ", it, " (lr ", lr, ")");
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (res.steps_this_run >= opt.untimed_steps) train_seconds += dt, tokens_done += B * T * accum;
    res.last_train_loss = loss;
    res.steps_this_run++;
    const double tps = double(tokens_done) / std::max(train_seconds, 1e-9);
    const auto stats = model->step_stats();  // of the last micro-batch
    if (write && (it % log_interval == 0 || it + 1 == max_iters)) {
      json row = {{"step", it}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm}, {"tokens_per_sec", tps},
                  {"step_ms", dt * 1e3}};
      for (const auto& [name, value] : stats) row[name] = value;
      metrics.append(row);
    }
    if (opt.progress && (tty || it % log_interval == 0 || it + 1 == max_iters)) {
      const double eta = double(max_iters - it - 1) * (tokens_done > 0 ? double(B * T * accum) / tps : dt);
      std::string extra;
      for (const auto& [name, value] : stats) extra += " | " + name + " " + format_stat(value);
      std::fprintf(stderr, "%sstep %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s%s | ETA %s%s", tty ? "\r\033[K" : "",
                   (long long)it + 1, (long long)max_iters, loss, lr, tps, extra.c_str(), human_duration(eta).c_str(),
                   tty ? "" : "\n");
      std::fflush(stderr);
    }
    if ((it + 1) % ckpt_interval == 0 && it + 1 < max_iters) save(it + 1);
  }
  if (it == max_iters) evaluate(it);
  save(it);
  if (opt.progress && tty) std::fprintf(stderr, "\n");
  res.steps_done = it;
  res.tokens_per_sec = double(tokens_done) / std::max(train_seconds, 1e-9);
  res.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return res;
}

}  // namespace loupe::tools
