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

// A LanguageModel built from a config struct Cfg (with vocab_size, block_size and to_json()):
// the model keeps its config as cfg_, and the size queries and config() read it.
template <class Cfg>
class ConfiguredModel : public LanguageModel {
 public:
  explicit ConfiguredModel(const Cfg& c) : cfg_(c) {}
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t block_size() const override { return cfg_.block_size; }
  nlohmann::json config() const override { return cfg_.to_json(); }
  const Cfg& cfg() const { return cfg_; }

 protected:
  Cfg cfg_;
};

// Registry: "gpt", "llama" now; later models register themselves the same way.
using ModelFactory = std::function<std::shared_ptr<LanguageModel>(const nlohmann::json& model_cfg)>;
void register_model(const std::string& type, ModelFactory f);
// Uses model_cfg["type"]; an unknown type throws an Error listing the known types.
std::shared_ptr<LanguageModel> build_model(const nlohmann::json& model_cfg);
std::vector<std::string> registered_models();

// Registration from each model .cpp with a static registrar (the library is linked whole):
//   static loupe::models::ModelRegistrar reg("gpt", [](const nlohmann::json& c) { ... });
struct ModelRegistrar {
  ModelRegistrar(const std::string& type, ModelFactory f) { register_model(type, std::move(f)); }
};

}  // namespace loupe::models
