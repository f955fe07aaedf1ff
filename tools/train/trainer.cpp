#include "tools/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <xxhash.h>

#include "autograd/anomaly.h"
#include "autograd/run_context.h"
#include "tensor/file_io.h"
#include "tensor/parallel.h"
#include "tools/train/checkpoint.h"
#include "tools/train/evaluate.h"
#include "tools/train/loss_plot.h"
#include "tools/train/metrics.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

static std::string human_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) / 60) % 60);
  return buf;
}

static std::string format_stat(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

namespace {

// Everything a run trains with, set up (and resumed) before the first step.
struct Setup {
  RunConfig cfg;  // the complete run config, with the model's resolved config
  Data data;
  std::shared_ptr<models::LanguageModel> model;
  std::unique_ptr<TrainingStep> step;
  int64_t start = 0;  // the first step to take (a resumed run's checkpoint step)
  std::string title;
  Cluster* cluster = nullptr;
};

// --resume: the checkpoint's model and data must be the config's; the train section may change.
std::unique_ptr<Checkpoint> resume_checkpoint(const TrainOptions& opt, RunConfig& cfg) {
  if (!opt.resume) return nullptr;
  auto ck = std::make_unique<Checkpoint>(load_checkpoint(opt.out_dir));
  const RunConfig& want = ck->config;
  LOUPE_CHECK(want.data == cfg.data, "train --resume: the data section differs from the checkpoint's (",
              DataConfig::keys().write(want.data).dump(), " vs ", DataConfig::keys().write(cfg.data).dump(), ")");
  for (auto& [k, v] : cfg.model.items())
    LOUPE_CHECK(want.model.contains(k) && want.model[k] == v, "train --resume: model key \"", k,
                "\" differs from the checkpoint's model config ", want.model.dump());
  cfg.model = want.model;
  return ck;
}

// A second run into the same directory once emptied the first one's metrics and kept its
// checkpoint until the first new one: a run is continued or replaced only when asked.
void refuse_to_overwrite(const TrainOptions& opt) {
  if (opt.out_dir.empty() || opt.resume || opt.force) return;
  const auto found = run_files_in(opt.out_dir);
  std::string files;
  for (auto& f : found) files += (files.empty() ? "" : ", ") + f;
  LOUPE_CHECK(found.empty(), "train: '", opt.out_dir, "' already holds a run (", files,
              "): --resume continues it, --force replaces it, or give another --out");
}

void set_up_rank(Setup& s, const TrainOptions& opt) {
  s.cfg = opt.config;
  LOUPE_CHECK(!opt.out_dir.empty() || !opt.resume, "train: --resume needs an output directory");
  if (s.cluster->is_root()) refuse_to_overwrite(opt);
  std::unique_ptr<Checkpoint> ck = resume_checkpoint(opt, s.cfg);

  s.data = ck ? open_checkpoint_data(*ck, opt.out_dir, opt.allow_other_data) : open_data(s.cfg.data);
  json mcfg = training_model_config(s.cfg, [&] { return s.data.tokenizer->vocab_size(); });
  LOUPE_CHECK(mcfg["vocab_size"].get<int64_t>() >= s.data.tokenizer->vocab_size(), "model.vocab_size ",
              mcfg["vocab_size"].dump(), " is smaller than the tokenizer's ", s.data.tokenizer->vocab_size());
  // Checked before the model is built (a huge block_size would allocate a huge model first)
  // and again with the model's resolved block size, all before anything is written.
  if (mcfg.contains("block_size") && mcfg["block_size"].is_number_integer())
    s.data.dataset->check_block(mcfg["block_size"].get<int64_t>());
  s.model = models::build_model(mcfg);
  s.cfg.model = s.model->config();  // the full resolved config goes into the checkpoint
  s.data.dataset->check_block(s.model->block_size());
  s.step = std::make_unique<TrainingStep>(*s.model, s.cfg.train, *s.data.dataset, *s.cluster);
  if (ck) {
    s.model->load_state_dict(ck->model_state);
    s.step->optimizer().load_state_dict(ck->optim_state);
    s.start = ck->step;
  }
  s.title = s.cfg.model["type"].get<std::string>() + ", " + std::to_string(s.model->num_parameters()) +
            " parameters, " + s.data.tokenizer->type() + " tokens";
}

// What every rank must share: the run config (model resolved) and the data it tokenised.
uint64_t setup_hash(const Setup& s) {
  const auto& ds = *s.data.dataset;
  const std::string all = s.cfg.to_json().dump() + s.data.tokenizer->to_json().dump() + ds.identity().dump() + "/" +
                          std::to_string(ds.split_size(text::Split::Train));
  return XXH64(all.data(), all.size(), 0);
}

// Rank 0 sets up first (it may tokenise the corpus into the cache, which the others then read),
// then the other ranks; a failure on any rank stops all of them with its message.
Setup set_up(const TrainOptions& opt) {
  Setup s;
  s.cluster = opt.cluster ? opt.cluster : &Cluster::single();
  Cluster& c = *s.cluster;
  c.all_or_none([&] {
    if (c.is_root()) set_up_rank(s, opt);
  });
  c.all_or_none([&] {
    if (!c.is_root()) set_up_rank(s, opt);
  });
  c.check_same(setup_hash(s), "the run (config, tokenizer or token data)");
  return s;
}

// What a run writes to its output directory ("" = nothing): config.json, data.json,
// metrics.jsonl, loss.svg and the checkpoint.
struct Outputs {
  std::string dir;
  Metrics metrics;
  std::function<void(const json&)> on_row;  // TrainOptions::on_row, on rank 0
  Outputs(const TrainOptions& opt, const Setup& s) : dir(s.cluster->is_root() ? opt.out_dir : "") {
    if (s.cluster->is_root()) on_row = opt.on_row;
    if (dir.empty()) return;
    fs::create_directories(dir);
    metrics.path = (fs::path(dir) / "metrics.jsonl").string();
    if (opt.resume) {
      metrics.reload(s.start);
    } else {  // a new run (or a forced one over an old run): nothing of an earlier run stays
      write_file_atomic(metrics.path, "");
      fs::remove(checkpoint_path(dir));
      fs::remove(fs::path(dir) / "loss.svg");
    }
    write_file_atomic((fs::path(dir) / "config.json").string(), s.cfg.to_json().dump(2) + "\n");
    // Where the token data is (for reference scripts, e.g. tools/reference/torch_train.py).
    const auto& ds = *s.data.dataset;
    const json data_info = {{"token_file", fs::absolute(ds.path()).string()},
                            {"bytes_per_token", ds.bytes_per_token()},
                            {"tokens", ds.size()},
                            {"train_tokens", ds.split_size(text::Split::Train)},
                            {"vocab_size", s.data.tokenizer->vocab_size()}};
    write_file_atomic((fs::path(dir) / "data.json").string(), data_info.dump(2) + "\n");
  }
  void row(const json& r) {
    if (on_row) on_row(r);
    if (!dir.empty()) metrics.append(r);
  }
  void eval_row(const json& r, const std::string& title) {
    if (on_row) on_row(r);
    if (dir.empty()) return;
    metrics.append(r);
    write_file_atomic((fs::path(dir) / "loss.svg").string(),
                      loss_svg({metrics.train, metrics.train_eval, metrics.val}, title));
  }
  void checkpoint(const Setup& s, int64_t step) const {
    if (!dir.empty())
      save_checkpoint(dir, s.cfg, step, s.data.dataset->identity(), *s.data.tokenizer, *s.model, s.step->optimizer().state_dict());
  }
};

// The live progress line on stderr (rewritten in place on a terminal, one line per log step otherwise).
struct Progress {
  bool on, tty;
  Progress(const TrainOptions& opt, const Setup& s)
      : on(opt.progress && s.cluster->is_root()), tty(::isatty(2)), ranks(s.cluster->size()) {
    if (!on) return;
    std::fprintf(stderr, "loupe train: %s, %lld train / %lld val tokens, %s from step %lld to %lld\n",
                 s.title.c_str(), (long long)s.data.dataset->split_size(text::Split::Train),
                 (long long)s.data.dataset->split_size(text::Split::Val),
                 opt.out_dir.empty() ? "(no output)" : opt.out_dir.c_str(), (long long)s.start,
                 (long long)s.cfg.train.max_iters);
    if (ranks > 1)
      std::fprintf(stderr, "loupe train: %d ranks × %d threads, %lld rows each per micro-batch, %lld micro-batches per step\n",
                   ranks, get_num_threads(), (long long)s.step->rows(), (long long)s.step->micro_per_step());
  }
  void eval(int64_t step, double tr, double va) const {
    if (on) std::fprintf(stderr, "%sstep %lld: train loss %.4f, val loss %.4f\n", tty ? "\r\033[K" : "", (long long)step, tr, va);
  }
  void step(int64_t it, int64_t max_iters, double loss, double lr, double tps, double eta,
            const std::vector<std::pair<std::string, double>>& stats) const {
    std::string extra;
    for (const auto& [name, value] : stats) extra += " | " + name + " " + format_stat(value);
    const std::string where = ranks > 1 ? " on " + std::to_string(ranks) + " ranks" : "";
    std::fprintf(stderr, "%sstep %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s%s%s | ETA %s%s", tty ? "\r\033[K" : "",
                 (long long)it + 1, (long long)max_iters, loss, lr, tps, where.c_str(), extra.c_str(),
                 human_duration(eta).c_str(), tty ? "" : "\n");
    std::fflush(stderr);
  }
  // Within a long step (many micro-batches): at most every 2 s, which micro-batch it is on, so a
  // huge grad_accum shows that it is working.
  void micro(int64_t it, int64_t done, int64_t total) const {
    if (!on) return;
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_micro).count() < 2.0) return;
    if (done == 0) {
      last_micro = now;  // the first tick of a step only starts the clock
      return;
    }
    last_micro = now;
    std::fprintf(stderr, "%sstep %lld: micro-batch %lld/%lld%s", tty ? "\r\033[K" : "", (long long)it + 1,
                 (long long)done, (long long)total, tty ? "" : "\n");
    std::fflush(stderr);
  }
  ~Progress() {
    if (on && tty) std::fprintf(stderr, "\n");
  }
  mutable Clock::time_point last_micro = Clock::now();
  int ranks = 1;
};

// The run's clock: wall time (its interrupted parts included) and, over the timed steps (those
// after untimed_steps), the seconds spent training and this rank's gradient reduction and wait.
struct RunClock {
  Clock::time_point start = Clock::now(), step_start;
  double before = 0;  // wall seconds of the earlier, interrupted parts of the run (resume)
  double train_seconds = 0, comm_seconds = 0, wait_seconds = 0, comm0 = 0, wait0 = 0;
  int64_t timed_steps = 0;
  double elapsed() const { return before + std::chrono::duration<double>(Clock::now() - start).count(); }
  void begin_step(const Cluster& c) {
    step_start = Clock::now();
    comm0 = c.comm_seconds;
    wait0 = c.wait_seconds;
  }
  double end_step(const Cluster& c, bool timed) {  // the step's seconds
    const double dt = std::chrono::duration<double>(Clock::now() - step_start).count();
    if (!timed) return dt;
    ++timed_steps;
    train_seconds += dt;
    comm_seconds += c.comm_seconds - comm0;
    wait_seconds += c.wait_seconds - wait0;
    return dt;
  }
  double tokens_per_sec(int64_t tokens_per_step) const {
    return double(timed_steps * tokens_per_step) / std::max(train_seconds, 1e-9);
  }
};

// Train and val loss on the fixed evaluation batches (TrainConfig::eval_seed), logged.
double evaluate(const Setup& s, Outputs& out, const Progress& progress, int64_t step, double elapsed) {
  const TrainConfig& t = s.cfg.train;
  set_step(t.seed, step);  // traces name the step an evaluation belongs to
  const auto loss = [&](text::Split split) {
    return estimate_loss(*s.model, *s.data.dataset, split, s.step->rows(), s.model->block_size(), t.eval_iters,
                         t.eval_seed(), *s.cluster);
  };
  const double tr = loss(text::Split::Train), va = loss(text::Split::Val);
  progress.eval(step, tr, va);
  out.eval_row({{"step", step}, {"train_loss", tr}, {"val_loss", va}, {"elapsed_s", elapsed}}, s.title);
  return va;
}

}  // namespace

// nanoGPT's train.py loop: evaluate/checkpoint at their intervals, one step, log.
TrainResult train(const TrainOptions& opt) {
  Setup s = set_up(opt);
  std::unique_ptr<AnomalyScope> anomaly;
  if (opt.anomaly) anomaly = std::make_unique<AnomalyScope>((fs::path(opt.out_dir.empty() ? "." : opt.out_dir) / "anomaly").string());
  Outputs out(opt, s);
  const Progress progress(opt, s);
  const TrainConfig& t = s.cfg.train;
  TrainResult res;
  res.num_parameters = s.model->num_parameters();
  res.tokens_per_step = s.step->tokens_per_step();
  res.ranks = s.cluster->size();
  RunClock clock;
  clock.before = out.metrics.elapsed_before;

  int64_t it = s.start;
  for (; it < t.max_iters; ++it) {
    if (opt.stop_after >= 0 && it >= opt.stop_after) break;  // before evaluating: the resumed run evaluates here
    if (opt.evaluate && it % t.eval_interval == 0) res.val_loss = evaluate(s, out, progress, it, clock.elapsed());
    clock.begin_step(*s.cluster);
    const auto st = s.step->run(it, !out.dir.empty(), [&](int64_t m, int64_t M) {
      if (M > 1) progress.micro(it, m, M);
    });
    const double dt = clock.end_step(*s.cluster, res.steps_this_run++ >= opt.untimed_steps);
    res.last_train_loss = st.loss;
    const double tps = clock.tokens_per_sec(res.tokens_per_step);
    const auto stats = s.model->step_stats();  // of the last micro-batch
    const bool log_step = it % t.log_interval == 0 || it + 1 == t.max_iters;
    if (log_step) {
      json row = {{"step", it}, {"loss", st.loss}, {"lr", st.lr}, {"grad_norm", st.grad_norm}, {"tokens_per_sec", tps},
                  {"step_ms", dt * 1e3}, {"elapsed_s", clock.elapsed()}};
      for (const auto& [name, value] : stats) row[name] = value;
      out.row(row);
    }
    if (progress.on && (progress.tty || log_step)) {
      const double eta = double(t.max_iters - it - 1) * (clock.timed_steps > 0 ? double(res.tokens_per_step) / tps : dt);
      progress.step(it, t.max_iters, st.loss, st.lr, tps, eta, stats);
    }
    if ((it + 1) % t.ckpt_interval == 0 && it + 1 < t.max_iters) out.checkpoint(s, it + 1);
  }
  if (opt.evaluate && it == t.max_iters) res.val_loss = evaluate(s, out, progress, it, clock.elapsed());
  out.checkpoint(s, it);
  res.steps_done = it;
  res.tokens_per_sec = clock.tokens_per_sec(res.tokens_per_step);
  const double timed = double(std::max<int64_t>(clock.timed_steps, 1));
  res.comm_seconds_per_step = clock.comm_seconds / timed;
  res.wait_seconds_per_step = clock.wait_seconds / timed;
  res.reduced_bytes_per_step = s.step->reduced_bytes_per_step();
  res.seconds = std::chrono::duration<double>(Clock::now() - clock.start).count();
  return res;
}

}  // namespace loupe::tools
