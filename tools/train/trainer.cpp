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
#include "autograd/ops.h"
#include "models/activation_probe.h"
#include "optim/clip.h"
#include "tensor/parallel.h"
#include "optim/factory.h"
#include "optim/schedule.h"
#include "tensor/file_io.h"
#include "tools/train/checkpoint.h"
#include "tools/train/loss_plot.h"
#include "tools/train/run_config.h"
#include "tools/train/step_gradient.h"

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

Data open_checkpoint_data(const Checkpoint& ck, const std::string& ckpt_dir, bool allow_other_data) {
  Data out = open_data(ck.config.at("data"), ck.tokenizer.get());
  const json& now = out.dataset->identity();
  if (ck.data.empty() || allow_other_data) return out;  // ({}: a checkpoint from before the record)
  const auto same = [&](const char* k) { return ck.data.contains(k) && ck.data[k] == now[k]; };
  LOUPE_CHECK(same("corpus_fnv1a64") && same("tokens_xxh64") && same("tokens"), "checkpoint '", checkpoint_path(ckpt_dir),
              "' was trained on other data: its corpus had FNV-1a ", ck.data.value("corpus_fnv1a64", "?"),
              " and its token file XXH64 ", ck.data.value("tokens_xxh64", "?"), " (", ck.data.value("tokens", int64_t(-1)),
              " tokens); data.corpus '", ck.config["data"]["corpus"].get<std::string>(), "' now gives FNV-1a ",
              now["corpus_fnv1a64"].get<std::string>(), ", token file '", out.dataset->path(), "' XXH64 ",
              now["tokens_xxh64"].get<std::string>(), " (", now["tokens"].get<int64_t>(),
              " tokens). --allow-other-data uses it anyway");
  return out;
}

double split_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t block,
                  int64_t batch, int64_t* tokens) {
  LOUPE_CHECK(block > 0 && batch > 0, "split_loss: block and batch must be > 0, got ", block, ", ", batch);
  const int64_t n = ds.split_size(split) - 1;  // tokens that have a successor to predict
  LOUPE_CHECK(n > 0, "split_loss: the split has no token to predict");
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  double sum = 0;  // Σ over windows of (mean loss × its tokens), in window order
  for (int64_t w0 = 0; w0 < n; w0 += batch * block) {
    const int64_t full = std::min(batch, (n - w0) / block);  // whole windows in this batch
    const auto run = [&](int64_t start, int64_t rows, int64_t T) {
      Tensor x = Tensor::empty({rows, T}, DType::I64), y = Tensor::empty({rows, T}, DType::I64);
      int64_t* px = x.data<int64_t>();
      int64_t* py = y.data<int64_t>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < T; ++t) {
          px[r * T + t] = ds.token(split, start + r * T + t);
          py[r * T + t] = ds.token(split, start + r * T + t + 1);
        }
      sum += lm_loss(model.forward(x), y).item() * double(rows * T);
    };
    if (full > 0) run(w0, full, block);
    if (full < batch && w0 + full * block < n) run(w0 + full * block, 1, n - w0 - full * block);  // the short tail
  }
  model.train(was_training);
  if (tokens) *tokens = n;
  return sum / double(n);
}

json training_model_config(const json& run_cfg, const std::function<int64_t()>& tokenizer_vocab) {
  json m = run_cfg["model"];
  if (!m.contains("vocab_size")) m["vocab_size"] = tokenizer_vocab();
  const json& dtype = run_cfg["train"]["dtype"];
  if (dtype != "f32" && !m.contains("dtype")) m["dtype"] = dtype;
  return m;
}

double estimate_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t batch,
                     int64_t block, int64_t iters, uint64_t seed, Cluster& cluster) {
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<double> losses(size_t(iters), 0.0);  // batch i's loss on its rank, 0 elsewhere
  cluster.all_or_none([&] {
    Tensor x, y;
    for (int64_t i = cluster.rank(); i < iters; i += cluster.size()) {
      ds.batch(split, batch, block, seed, uint64_t(i), x, y);
      losses[size_t(i)] = lm_loss(model.forward(x), y).item();
    }
  });
  model.train(was_training);
  cluster.share(losses);
  double sum = 0;
  for (double l : losses) sum += l;
  return sum / double(iters);
}

static std::string human_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) / 60) % 60);
  return buf;
}

std::vector<json> read_metrics_rows(const std::string& path, bool torn_last_ok) {
  const std::string text = read_file(path);
  std::vector<json> rows;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    const bool torn = nl == std::string::npos;
    const std::string line = text.substr(at, torn ? std::string::npos : nl - at);
    at = torn ? text.size() : nl + 1;
    ++line_no;
    if (line.empty()) continue;
    json row = json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row["step"].is_number_integer()) {
      rows.push_back(std::move(row));
      continue;
    }
    if (torn && torn_last_ok) break;  // an interrupted write: that row was never complete
    throw Error(detail::cat("'", path, "' line ", line_no, ": not a metrics row (a JSON object with an integer \"step\")",
                            torn ? ", and the file ends inside it" : ""));
  }
  return rows;
}

// metrics.jsonl rows and the loss curves drawn from them.
struct Metrics {
  std::string path;
  LossSeries train{.name = "train", .color = "#1f77b4"},
      train_eval{.name = "train (eval)", .color = "#2ca02c", .markers = true}, val{.name = "val", .color = "#ff7f0e", .markers = true};
  void add(const json& row) {
    const double step = row["step"].get<double>();
    if (row.contains("loss")) train.points.push_back({step, row["loss"].get<double>()});
    if (row.contains("val_loss")) val.points.push_back({step, row["val_loss"].get<double>()});
    if (row.contains("train_loss")) train_eval.points.push_back({step, row["train_loss"].get<double>()});
  }
  double elapsed_before = 0;  // wall seconds of the earlier, interrupted parts of the run (resume)
  // On resume: keep (and re-read) only the rows of steps before `step`; a torn last line is
  // dropped, any other bad line refused (read_metrics_rows).
  void reload(int64_t step) {
    std::string all;
    for (const json& row : read_metrics_rows(path, true))
      if (row["step"].get<int64_t>() < step) {
        all += row.dump() + "\n", add(row);
        if (row.contains("elapsed_s")) elapsed_before = std::max(elapsed_before, row["elapsed_s"].get<double>());
      }
    write_file_atomic(path, all);
  }
  void append(const json& row) {
    std::ofstream f(path, std::ios::app);
    f << row.dump() << "\n";
    LOUPE_CHECK(f.good(), "cannot append to '", path, "'");
    add(row);
  }
};

std::vector<std::string> run_files_in(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* f : {"ckpt.safetensors", "metrics.jsonl", "config.json"})
    if (fs::exists(fs::path(dir) / f)) found.emplace_back(f);
  return found;
}

static std::string format_stat(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

namespace {

// Everything a run trains with, set up (and resumed) before the first step.
struct Setup {
  json cfg;  // the complete run config, with the model's resolved config
  Data data;
  std::shared_ptr<models::LanguageModel> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::vector<Var> params;
  optim::LrSchedule sched;
  // B: rows of one micro-batch (train.batch_size / ranks); accum: micro-steps per step on each rank.
  int64_t start = 0, B = 0, T = 0, accum = 1, max_iters = 0;
  uint64_t seed = 0;
  std::string title;
  Cluster* cluster = nullptr;
  std::unique_ptr<StepGradient> grad;  // the fold over micro-batches and ranks (none: one micro-batch, one rank)
  int64_t micro_per_step() const { return accum * cluster->size(); }
};

// --resume: the checkpoint's model and data must be the config's; the train section may change.
std::unique_ptr<Checkpoint> resume_checkpoint(const TrainOptions& opt, json& cfg) {
  if (!opt.resume) return nullptr;
  auto ck = std::make_unique<Checkpoint>(load_checkpoint(opt.out_dir));
  const json& want = ck->config;
  LOUPE_CHECK(want["data"] == cfg["data"], "train --resume: the data section differs from the checkpoint's (",
              want["data"].dump(), " vs ", cfg["data"].dump(), ")");
  for (auto& [k, v] : cfg["model"].items())
    LOUPE_CHECK(want["model"].contains(k) && want["model"][k] == v, "train --resume: model key \"", k,
                "\" differs from the checkpoint's model config ", want["model"].dump());
  cfg["model"] = want["model"];
  return ck;
}

void set_up_rank(Setup& s, const TrainOptions& opt) {
  s.cfg = opt.config;
  LOUPE_CHECK(!opt.out_dir.empty() || !opt.resume, "train: --resume needs an output directory");
  // A second run into the same directory once emptied the first one's metrics and kept its
  // checkpoint until the first new one: a run is continued or replaced only when asked.
  if (s.cluster->is_root() && !opt.out_dir.empty() && !opt.resume && !opt.force) {
    const auto found = run_files_in(opt.out_dir);
    std::string files;
    for (auto& f : found) files += (files.empty() ? "" : ", ") + f;
    LOUPE_CHECK(found.empty(), "train: '", opt.out_dir, "' already holds a run (", files,
                "): --resume continues it, --force replaces it, or give another --out");
  }
  std::unique_ptr<Checkpoint> ck = resume_checkpoint(opt, s.cfg);

  s.data = ck ? open_checkpoint_data(*ck, opt.out_dir, opt.allow_other_data) : open_data(s.cfg["data"]);
  s.cfg["model"] = training_model_config(s.cfg, [&] { return s.data.tokenizer->vocab_size(); });
  json& mcfg = s.cfg["model"];
  LOUPE_CHECK(mcfg["vocab_size"].get<int64_t>() >= s.data.tokenizer->vocab_size(), "model.vocab_size ",
              mcfg["vocab_size"].dump(), " is smaller than the tokenizer's ", s.data.tokenizer->vocab_size());
  const json& t = s.cfg["train"];
  // Checked before the model is built (a huge block_size would allocate a huge model first)
  // and again with the model's resolved block size, all before anything is written.
  if (mcfg.contains("block_size") && mcfg["block_size"].is_number_integer())
    s.data.dataset->check_block(mcfg["block_size"].get<int64_t>());
  s.model = models::build_model(mcfg);
  s.cfg["model"] = s.model->config();  // the full resolved config goes into the checkpoint
  s.model->train();
  s.data.dataset->check_block(s.model->block_size());

  const int64_t ranks = s.cluster->size(), batch = t["batch_size"];
  LOUPE_CHECK(batch % ranks == 0, "train.batch_size ", batch, " does not divide by the ", ranks,
              " ranks (it is the global batch: each rank takes batch_size / ranks rows)");
  s.B = batch / ranks, s.T = s.model->block_size(), s.accum = t["grad_accum"], s.max_iters = t["max_iters"];
  LOUPE_CHECK(s.micro_per_step() <= 65536, "train.grad_accum ", s.accum, " × ", ranks,
              " ranks is more than 65536 micro-batches per step");
  models::check_training_memory(*s.model, s.B, s.T, "train");  // before the optimizer's state exists
  s.seed = t["seed"].get<uint64_t>();
  const auto named = s.model->named_parameters();
  const auto decay = s.model->decay_parameter_names();
  s.optimizer = optim::make_optimizer(t, named, std::set<std::string>(decay.begin(), decay.end()));
  for (auto& [_, p] : named) s.params.push_back(p);
  s.sched.kind = optim::LrSchedule::parse_kind(t["schedule"]);
  s.sched.lr = t["lr"], s.sched.min_lr = t["min_lr"], s.sched.warmup_iters = t["warmup_iters"];
  s.sched.decay_iters = t["lr_decay_iters"], s.sched.inv_sqrt_cap = t["inv_sqrt_cap"];
  s.sched.inv_sqrt_scale = t["inv_sqrt_scale"];
  if (ck) {
    s.model->load_state_dict(ck->model_state);
    s.optimizer->load_state_dict(ck->optim_state);
    s.start = ck->step;
  }
  if (s.micro_per_step() > 1) s.grad = std::make_unique<StepGradient>(s.params);
  s.title = s.cfg["model"]["type"].get<std::string>() + ", " + std::to_string(s.model->num_parameters()) +
            " parameters, " + s.data.tokenizer->type() + " tokens";
}

// What every rank must share: the run config (model resolved) and the data it tokenised.
uint64_t setup_hash(const Setup& s) {
  const auto& ds = *s.data.dataset;
  const std::string all = s.cfg.dump() + s.data.tokenizer->to_json().dump() + ds.identity().dump() + "/" +
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
  Outputs(const TrainOptions& opt, const Setup& s) : dir(s.cluster->is_root() ? opt.out_dir : "") {
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
    write_file_atomic((fs::path(dir) / "config.json").string(), s.cfg.dump(2) + "\n");
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
    if (!dir.empty()) metrics.append(r);
  }
  void eval_row(const json& r, const std::string& title) {
    if (dir.empty()) return;
    metrics.append(r);
    write_file_atomic((fs::path(dir) / "loss.svg").string(),
                      loss_svg({metrics.train, metrics.train_eval, metrics.val}, title));
  }
  void checkpoint(const Setup& s, int64_t step) const {
    if (!dir.empty())
      save_checkpoint(dir, s.cfg, step, s.data.dataset->identity(), *s.data.tokenizer, *s.model, s.optimizer->state_dict());
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
                 (long long)s.max_iters);
    if (ranks > 1)
      std::fprintf(stderr, "loupe train: %d ranks × %d threads, %lld rows each per micro-batch, %lld micro-batches per step\n",
                   ranks, get_num_threads(), (long long)s.B, (long long)s.micro_per_step());
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

struct StepResult {
  double loss = 0, grad_norm = 0, lr = 0;
};

// One optimizer step, as nanoGPT's train.py: lr from the schedule; M = grad_accum · ranks
// micro-batches m (batch index it·M + m; this rank runs m = a·ranks + rank), loss/M backward,
// the gradients folded in m order; clip the global grad norm; step.
StepResult train_step(Setup& s, int64_t it, double clip, bool want_norm, const Progress& progress) {
  StepResult r;
  Cluster& c = *s.cluster;
  set_step(s.seed, it);  // dropout masks are keyed by (seed, step, micro-batch, module path, call)
  r.lr = s.sched(it);
  s.optimizer->set_lr(r.lr);
  const int64_t M = s.micro_per_step();
  std::vector<double> losses(size_t(M), 0.0);  // micro-batch m's loss on its rank, 0 elsewhere
  Tensor x, y;
  for (int64_t a = 0; a < s.accum; ++a) {
    const int64_t m = a * c.size() + c.rank();
    if (M > 1) progress.micro(it, m, M);
    c.all_or_none([&] {
      set_micro_batch(m);
      s.data.dataset->batch(text::Split::Train, s.B, s.T, s.seed, uint64_t(it * M + m), x, y);
      Var loss = lm_loss(s.model->forward(x), y);
      losses[size_t(m)] = loss.item();
      (M == 1 ? loss : loss * (1.0 / double(M))).backward();
    });
    if (s.grad) s.grad->add(c, a == 0);
  }
  if (s.grad) s.grad->install();
  c.share(losses);
  for (double l : losses) r.loss += l;
  r.loss /= double(M);
  r.grad_norm = clip > 0 || want_norm ? optim::grad_global_norm(s.params) : 0.0;
  s.optimizer->step(clip > 0 ? optim::clip_coefficient(r.grad_norm, clip) : 1.0);
  s.optimizer->zero_grad();
  // Every rank holds the same loss, so every rank stops here; rank 0 reports it.
  if (!std::isfinite(r.loss))
    throw ClusterError("train: loss is " + std::to_string(r.loss) + " at step " + std::to_string(it) + " (lr " +
                           std::to_string(r.lr) + ")",
                       c.is_root());
  return r;
}

}  // namespace

TrainResult train(const TrainOptions& opt) {
  Setup s = set_up(opt);
  std::unique_ptr<AnomalyScope> anomaly;
  if (opt.anomaly) anomaly = std::make_unique<AnomalyScope>((fs::path(opt.out_dir.empty() ? "." : opt.out_dir) / "anomaly").string());
  Outputs out(opt, s);
  const Progress progress(opt, s);
  const json& t = s.cfg["train"];
  const int64_t eval_interval = t["eval_interval"], eval_iters = t["eval_iters"], log_interval = t["log_interval"];
  const int64_t ckpt_interval = t["ckpt_interval"], max_iters = s.max_iters;
  const double clip = t["grad_clip"];

  TrainResult res;
  res.num_parameters = s.model->num_parameters();
  res.tokens_per_step = s.B * s.T * s.micro_per_step();
  res.ranks = s.cluster->size();
  double comm_seconds = 0, wait_seconds = 0;
  const auto run_start = Clock::now();
  // Wall seconds of the whole run, its interrupted parts included (compare's wall time).
  const auto elapsed = [&] { return out.metrics.elapsed_before + std::chrono::duration<double>(Clock::now() - run_start).count(); };
  double train_seconds = 0;
  int64_t tokens_done = 0;
  auto evaluate = [&](int64_t step) {
    if (!opt.evaluate) return;
    set_step(s.seed, step);  // traces name the step an evaluation belongs to
    const uint64_t es = eval_seed(s.seed);
    const double tr = estimate_loss(*s.model, *s.data.dataset, text::Split::Train, s.B, s.T, eval_iters, es, *s.cluster);
    const double va = estimate_loss(*s.model, *s.data.dataset, text::Split::Val, s.B, s.T, eval_iters, es, *s.cluster);
    res.val_loss = va;
    progress.eval(step, tr, va);
    out.eval_row({{"step", step}, {"train_loss", tr}, {"val_loss", va}, {"elapsed_s", elapsed()}}, s.title);
  };

  int64_t it = s.start;
  for (; it < max_iters; ++it) {
    if (opt.stop_after >= 0 && it >= opt.stop_after) break;  // before evaluating: the resumed run evaluates here
    if (it % eval_interval == 0) evaluate(it);
    const auto t0 = Clock::now();
    const double comm0 = s.cluster->comm_seconds, wait0 = s.cluster->wait_seconds;
    const StepResult st = train_step(s, it, clip, !out.dir.empty(), progress);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (res.steps_this_run++ >= opt.untimed_steps)
      train_seconds += dt, tokens_done += res.tokens_per_step, comm_seconds += s.cluster->comm_seconds - comm0,
      wait_seconds += s.cluster->wait_seconds - wait0;
    res.last_train_loss = st.loss;
    const double tps = double(tokens_done) / std::max(train_seconds, 1e-9);
    const auto stats = s.model->step_stats();  // of the last micro-batch
    const bool log_step = it % log_interval == 0 || it + 1 == max_iters;
    if (log_step) {
      json row = {{"step", it}, {"loss", st.loss}, {"lr", st.lr}, {"grad_norm", st.grad_norm}, {"tokens_per_sec", tps},
                  {"step_ms", dt * 1e3}, {"elapsed_s", elapsed()}};
      for (const auto& [name, value] : stats) row[name] = value;
      out.row(row);
    }
    if (progress.on && (progress.tty || log_step))
      progress.step(it, max_iters, st.loss, st.lr, tps,
                    double(max_iters - it - 1) * (tokens_done > 0 ? double(res.tokens_per_step) / tps : dt), stats);
    if ((it + 1) % ckpt_interval == 0 && it + 1 < max_iters) out.checkpoint(s, it + 1);
  }
  if (it == max_iters) evaluate(it);
  out.checkpoint(s, it);
  res.steps_done = it;
  res.tokens_per_sec = double(tokens_done) / std::max(train_seconds, 1e-9);
  const int64_t timed_steps = tokens_done / std::max<int64_t>(res.tokens_per_step, 1);
  res.comm_seconds_per_step = timed_steps > 0 ? comm_seconds / double(timed_steps) : 0;
  res.wait_seconds_per_step = timed_steps > 0 ? wait_seconds / double(timed_steps) : 0;
  res.reduced_bytes_per_step = s.grad && res.ranks > 1 ? s.grad->bytes() * uint64_t(s.accum) : 0;
  res.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return res;
}

}  // namespace loupe::tools
