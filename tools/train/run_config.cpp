#include "tools/train/run_config.h"

#include <limits>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace loupe::tools {

using nlohmann::json;
using Ends = models::ConfigKeys<TrainConfig>::Ends;

const models::ConfigKeys<DataConfig>& DataConfig::keys() {
  using C = DataConfig;
  static const auto t = models::ConfigKeys<C>::section("data")
      .text("corpus", &C::corpus, "the text file to train on (relative to the working directory)")
      .text("tokenizer", &C::tokenizer, "char, bpe (trained on the corpus), gpt2, or a tokenizer .json")
      .integer("bpe_vocab", &C::bpe_vocab, 1, "vocabulary size when tokenizer = bpe", int64_t(1) << 20)
      .number("val_fraction", &C::val_fraction, 0, 1, "the last part of the tokens held out for validation",
              models::ConfigKeys<C>::Ends::Open)
      .text("cache_dir", &C::cache_dir, "where token files go (empty: next to the corpus)");
  return t;
}

const models::ConfigKeys<TrainConfig>& TrainConfig::keys() {
  using C = TrainConfig;
  using optim::OptimizerConfig, optim::LrSchedule;
  constexpr int64_t kBillion = 1000000000;  // a typo like 1e12 steps is refused, not run for days
  constexpr double kInf = std::numeric_limits<double>::infinity();  // rates may be huge on purpose (anomaly tests)
  static const auto t = models::ConfigKeys<C>::section("train")
      .integer("batch_size", &C::batch_size, 1, "rows per step over all ranks, each block_size tokens", 65536)
      .integer("max_iters", &C::max_iters, 1, "optimizer steps", kBillion)
      .integer("grad_accum", &C::grad_accum, 1, "micro-batches per step", 65536)
      .choice<OptimizerConfig::Kind>("optimizer", &C::optimizer, OptimizerConfig::kinds(), "the optimizer")
      .number("lr", &C::lr, 0, kInf, "peak learning rate")
      .number("min_lr", &C::min_lr, 0, kInf, "cosine schedule's floor")
      .choice<LrSchedule::Kind>("schedule", &C::kind, LrSchedule::kinds(), "learning-rate schedule (optim/schedule.h)")
      .integer("warmup_iters", &C::warmup_iters, 0, "linear warmup steps", kBillion)
      .integer("lr_decay_iters", &C::decay_iters, 0, "step where the cosine reaches min_lr", kBillion)
      .number("inv_sqrt_cap", &C::inv_sqrt_cap, 0, kInf, "inv_sqrt schedule: largest lr")
      .number("inv_sqrt_scale", &C::inv_sqrt_scale, 0, kInf, "inv_sqrt schedule: lr = scale / sqrt(step + 1)")
      .number("beta1", &C::beta1, 0, 1, "Adam's first-moment decay", Ends::OpenAbove)
      .number("beta2", &C::beta2, 0, 1, "Adam's second-moment decay", Ends::OpenAbove)
      .number("eps", &C::eps, 0, 1, "Adam's epsilon", Ends::OpenBelow)
      .number("weight_decay", &C::weight_decay, 0, kInf, "on matrices and embeddings (dim >= 2), none on the rest")
      .number("momentum", &C::momentum, 0, 1, "SGD's momentum", Ends::OpenAbove)
      .boolean("nesterov", &C::nesterov, "SGD with Nesterov momentum")
      .number("grad_clip", &C::grad_clip, 0, kInf, "bound on the global gradient norm (0: no clipping)")
      .integer("eval_interval", &C::eval_interval, 1, "steps between evaluations", kBillion)
      .integer("eval_iters", &C::eval_iters, 1, "batches per evaluation", 1000000)
      .integer("log_interval", &C::log_interval, 1, "steps between metrics rows", kBillion)
      .integer("ckpt_interval", &C::ckpt_interval, 1, "steps between checkpoints", kBillion)
      .seed("seed", &C::seed, "batches, dropout masks and evaluation batches")
      .dtype("dtype", &C::dtype, "the model's dtype when the model section names none");
  return t;
}

RunConfig RunConfig::from_json(const json& j, const std::string& what) {
  LOUPE_CHECK(j.is_object(), what, ": expected a JSON object at the top level");
  for (auto& [k, _] : j.items())
    LOUPE_CHECK(k == "model" || k == "data" || k == "train", what, ": unknown section \"", k,
                "\" (known: model, data, train)");
  LOUPE_CHECK(j.contains("model") && j["model"].is_object(), what, ": missing the \"model\" object");
  LOUPE_CHECK(j["model"].contains("type"), what, ": \"model\" has no \"type\"");
  LOUPE_CHECK(j["model"]["type"].is_string(), what, ": \"model.type\" must be a string (a model type), got ",
              j["model"]["type"].dump());
  RunConfig c;
  c.model = j["model"];
  const json none = json::object();
  DataConfig::keys().read(j.contains("data") ? j["data"] : none, c.data, {}, what);
  TrainConfig::keys().read(j.contains("train") ? j["train"] : none, c.train, {}, what);
  return c;
}

json RunConfig::to_json() const {
  return {{"model", model}, {"data", DataConfig::keys().write(data)}, {"train", TrainConfig::keys().write(train)}};
}

void apply_set(json& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  LOUPE_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq, "--set '", assignment,
              "': expected section.key=value (e.g. train.lr=3e-4)");
  const std::string section = assignment.substr(0, dot), key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string raw = assignment.substr(eq + 1);
  LOUPE_CHECK(section == "model" || section == "data" || section == "train", "--set '", assignment,
              "': unknown section \"", section, "\" (known: model, data, train)");
  LOUPE_CHECK(!key.empty(), "--set '", assignment, "': empty key");
  // The value is checked with the rest of the config (RunConfig::from_json, and model keys when
  // the model is built); an unknown data or train key is refused here, naming the assignment.
  const auto known = section == "data" ? DataConfig::keys().key_names() : TrainConfig::keys().key_names();
  LOUPE_CHECK(section == "model" || known.count(key), "--set '", assignment, "': unknown key \"", section, ".", key, "\"");
  json value;
  try {
    value = json::parse(raw);
  } catch (const json::exception&) {
    value = raw;  // a bare word: a string
  }
  cfg[section][key] = value;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& sets) {
  json cfg = json::object();
  if (!path.empty()) {
    const std::string bytes = read_file(path);
    try {
      cfg = json::parse(bytes);
    } catch (const json::exception& e) {
      throw Error(detail::cat("config '", path, "': bad JSON: ", e.what()));
    }
  }
  for (auto& s : sets) apply_set(cfg, s);
  return RunConfig::from_json(cfg, path.empty() ? "config" : "config '" + path + "'");
}

}  // namespace loupe::tools
