// LanguageModel: the interface every architecture implements (gpt, llama, ...),
// and a registry that builds one from the "model" object of a JSON config.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/var.h"
#include "models/config_keys.h"
#include "nn/module.h"

namespace loupe::models {

// Per-model incremental-decoding state (KV cache etc.).
struct DecodeCache {
  virtual ~DecodeCache() = default;
  virtual int64_t bytes() const = 0;   // memory held
  virtual int64_t length() const = 0;  // tokens cached so far
};

class LanguageModel : public nn::Module {
 public:
  virtual Var forward(const Tensor& ids) = 0;  // ids i64 [B, T] -> logits [B, T, V]
  virtual std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const = 0;
  // ids [B, t_new] appended after the cached tokens -> logits [B, t_new, V]; updates the cache.
  virtual Var forward_cached(const Tensor& ids, DecodeCache& cache) = 0;
  // The training loss: the mean next-token cross-entropy of ids [B, T] against targets [B, T].
  // Default: cross_entropy of forward's logits [B·T, V]. A decoder with a large vocabulary fuses
  // its head into the loss (Decoder::loss), so the logits are never held whole.
  virtual Var loss(const Tensor& ids, const Tensor& targets);
  virtual int64_t vocab_size() const = 0;
  virtual int64_t block_size() const = 0;       // max context
  virtual nlohmann::json config() const = 0;    // the full model config (for checkpoints)
  // Names of parameters that get weight decay: as nanoGPT, those with dim >= 2
  // (matmul weights and embeddings), not norms or biases.
  virtual std::vector<std::string> decay_parameter_names() const;
  // Model-specific numbers about the last forward (e.g. Wiola's ATM merge rate), by name;
  // `loupe train` adds them to metrics.jsonl and to the progress line. Default: none.
  virtual std::vector<std::pair<std::string, double>> step_stats() const { return {}; }
};

// ---- the registry ----
// What the registry knows of a model type: how to build one, its config keys (for
// `loupe models`), a one-line summary, and its parameter count from a config alone (so a
// config that cannot fit in memory is refused before anything is allocated).
struct ModelInfo {
  std::string summary;
  std::function<std::shared_ptr<LanguageModel>(const nlohmann::json&)> build;
  std::function<std::vector<KeyDoc>()> keys;
  std::function<double(const nlohmann::json&)> count_parameters;  // double: a huge config must not overflow
};
void register_model(const std::string& type, ModelInfo info);
const ModelInfo& model_info(const std::string& type);  // an Error lists the known types
// Uses model_cfg["type"]; refuses (an Error naming the estimate) a config whose parameters,
// gradients and AdamW moments would not fit in this machine's memory.
std::shared_ptr<LanguageModel> build_model(const nlohmann::json& model_cfg);
std::vector<std::string> registered_models();
// Bytes of parameters + gradients + two optimizer moments for `params` parameters of `dtype`.
double training_state_bytes(double params, DType dtype);
// The same for a built model (its parameters' dtype).
double training_state_bytes(const LanguageModel& model);
// This machine's RAM in bytes (0 if it cannot be read).
double physical_memory_bytes();
// "1.23 GiB", for messages about memory.
std::string format_gib(double bytes);

// Registration from each model .cpp with a static registrar (the library is linked whole):
//   static const ModelRegistrar reg = ModelRegistrar::of<GPT, GPTConfig>("gpt", "nanoGPT's GPT-2 ...");
// Cfg has from_json(j), keys() (its ConfigKeys table) and count_parameters(); Model(const Cfg&).
struct ModelRegistrar {
  ModelRegistrar(const std::string& type, ModelInfo info) { register_model(type, std::move(info)); }
  template <class Model, class Cfg>
  static ModelRegistrar of(const std::string& type, const std::string& summary) {
    ModelInfo info;
    info.summary = summary;
    // A config from a file may hold any JSON: a type mismatch the table does not catch (a number
    // where a nested object is expected) is an Error naming the model, not a JSON library throw.
    static const auto read = [type](const nlohmann::json& j) {
      try {
        return Cfg::from_json(j);
      } catch (const nlohmann::json::exception& e) {
        throw Error(type + " config: " + e.what());
      }
    };
    info.build = [](const nlohmann::json& j) -> std::shared_ptr<LanguageModel> { return std::make_shared<Model>(read(j)); };
    info.keys = [] { return Cfg::keys().docs(); };
    info.count_parameters = [](const nlohmann::json& j) { return read(j).count_parameters(); };
    return ModelRegistrar(type, std::move(info));
  }
};

}  // namespace loupe::models
