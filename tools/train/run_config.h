// A run config: the JSON file of an experiment (configs/*.json) with three sections,
//   "model": the architecture, read and checked by the model's own key table (models/),
//   "data":  corpus, tokenizer, validation fraction       → DataConfig,
//   "train": optimizer, schedule, batch, intervals, seed  → TrainConfig.
// Each data and train key is declared once, in a ConfigKeys table (models/config_keys.h) beside
// its struct: JSON name, member, range, one-line doc; its default is the member's initialiser
// (for the optimizer and schedule keys, in optim/factory.h and optim/schedule.h). A file is read
// once into these structs, checked once (unknown keys, types and ranges refused, naming the file
// and the key), and written back whole, defaults included, into each run's config.json and
// checkpoint. `loupe models data` and `loupe models train` list the keys.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/config_keys.h"
#include "optim/factory.h"
#include "optim/schedule.h"
#include "tensor/dtype.h"

namespace loupe::tools {

struct DataConfig {
  std::string corpus = "data/tinyshakespeare.txt";  // relative to the working directory
  std::string tokenizer = "char";                   // "char", "bpe" (trained on the corpus), "gpt2", or a tokenizer .json
  int64_t bpe_vocab = 1024;                         // vocabulary size when tokenizer = "bpe"
  double val_fraction = 0.1;                        // the last 10% of the tokens, as nanoGPT
  std::string cache_dir;                            // where token files go ("" = next to the corpus)
  bool operator==(const DataConfig&) const = default;
  static const models::ConfigKeys<DataConfig>& keys();
};

// The optimizer's keys (optimizer, weight_decay, beta1, beta2, eps, momentum, nesterov) and the
// schedule's (schedule, lr, min_lr, warmup_iters, lr_decay_iters, inv_sqrt_*) are its bases'.
struct TrainConfig : optim::OptimizerConfig, optim::LrSchedule {
  int64_t batch_size = 12;   // rows of a step (over all ranks), each block_size tokens
  int64_t max_iters = 2000;  // optimizer steps
  int64_t grad_accum = 1;    // micro-batches per step
  double grad_clip = 1.0;    // global gradient-norm bound (0: none)
  int64_t eval_interval = 250, eval_iters = 20, log_interval = 10, ckpt_interval = 500;
  uint64_t seed = 1337;      // batches, dropout masks, evaluation batches
  DType dtype = DType::F32;  // the model's dtype when its own config names none
  // The seed of the evaluation batches: derived from `seed` so they never coincide with
  // training batches. `loupe eval` draws the same ones as the trainer's evaluations.
  uint64_t eval_seed() const { return seed ^ 0x9E3779B97F4A7C15ULL; }
  static const models::ConfigKeys<TrainConfig>& keys();
};

struct RunConfig {
  nlohmann::json model = nlohmann::json::object();  // checked when the model is built
  DataConfig data;
  TrainConfig train;
  // Reads and checks a whole run config; `what` starts every error (e.g. "config 'x.json'").
  static RunConfig from_json(const nlohmann::json& j, const std::string& what);
  // Every key, defaults included: what config.json and checkpoints hold.
  nlohmann::json to_json() const;
};

// Reads `path`, applies each "section.key=value" in `sets` (value parsed as JSON, else taken as
// a string) and checks the result. `path` may be empty: defaults + sets only.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& sets = {});
// Applies one "section.key=value" assignment to a config's JSON (an Error names it when the key is unknown).
void apply_set(nlohmann::json& cfg, const std::string& assignment);

}  // namespace loupe::tools
