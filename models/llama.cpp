// A LLaMA-style decoder (Touvron et al. 2023): no absolute positions (RoPE rotates
// q and k instead), RMSNorm before each sublayer, a SwiGLU feed-forward, no biases,
// optional grouped-query attention, tied or untied output head.
//
//   x = tok_embeddings[ids]
//   for each layer:  x = x + Attn(RMSNorm(x));  x = x + SwiGLU(RMSNorm(x))
//   logits = RMSNorm(x) · Woutᵀ                 (Wout = tok_embeddings when tied)
//
// Names follow Meta's reference code (layers.0.attention_norm.weight, layers.0.feed_forward.w1.weight,
// ...), except that q, k, v come from one fused projection attention.c_attn (rows [q | k | v]).
// RoPE uses the interleaved-pair convention (see autograd/nn_ops.h). Init as nanoGPT: N(0, 0.02),
// residual projections (attention.c_proj, feed_forward.w2) N(0, 0.02/√(2·n_layer)).
#include <cmath>

#include "autograd/ops.h"
#include "models/config_reader.h"
#include "models/kv_cache.h"
#include "models/llama_config.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/rmsnorm.h"
#include "nn/swiglu.h"

namespace loupe::models {
namespace {

// x = x + Attn(RMSNorm(x));  x = x + SwiGLU(RMSNorm(x))
class Layer : public nn::Module {
 public:
  Layer(const LlamaConfig& c, int64_t layer) {
    const uint64_t seed = nn::param_seed(c.seed, "layers." + std::to_string(layer));
    nn::AttentionConfig ac;
    ac.n_embd = c.n_embd, ac.n_head = c.n_head, ac.n_kv_head = c.n_kv_head, ac.bias = false;
    ac.dropout = c.dropout, ac.rope = true, ac.rope_base = c.rope_base, ac.seed = seed;
    attention_norm = register_module("attention_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype));
    attention = register_module("attention", std::make_shared<nn::CausalSelfAttention>(ac, c.dtype));
    ffn_norm = register_module("ffn_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype));
    feed_forward = register_module("feed_forward",
                                   std::make_shared<nn::SwiGLU>(c.n_embd, c.ffn_hidden, c.dropout, seed, c.dtype));
  }
  Var forward(Var x, nn::KVCache* cache) {
    x = x + attention->forward(attention_norm->forward(x), cache);
    x = x + feed_forward->forward(ffn_norm->forward(x));
    return x;
  }
  std::shared_ptr<nn::RMSNorm> attention_norm, ffn_norm;
  std::shared_ptr<nn::CausalSelfAttention> attention;
  std::shared_ptr<nn::SwiGLU> feed_forward;
};

class Llama : public ConfiguredModel<LlamaConfig> {
 public:
  explicit Llama(const LlamaConfig& c) : ConfiguredModel(c) {
    tok_embeddings = register_module("tok_embeddings", std::make_shared<nn::Embedding>(c.vocab_size, c.n_embd, c.dtype));
    layers = register_module("layers", std::make_shared<nn::ModuleList<Layer>>());
    for (int64_t i = 0; i < c.n_layer; ++i) layers->push_back(std::make_shared<Layer>(c, i));
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype));
    if (!c.tie_weights)
      output = register_module("output", std::make_shared<nn::Linear>(c.n_embd, c.vocab_size, false, c.dtype));
    for (auto& [name, p] : named_parameters()) {
      if (p.dim() < 2) continue;  // RMSNorm weights stay 1
      const bool residual = name.ends_with("attention.c_proj.weight") || name.ends_with("feed_forward.w2.weight");
      nn::init_normal_(p, residual ? 0.02 / std::sqrt(2.0 * double(c.n_layer)) : 0.02, c.seed, name);
    }
  }

  Var forward(const Tensor& ids) override { return run(ids, nullptr); }

  std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const override {
    LOUPE_CHECK(batch >= 1 && max_len >= 1, "llama: cache needs batch >= 1 and max_len >= 1");
    auto cache = std::make_unique<TransformerCache>();
    for (auto& l : *layers) cache->layers.push_back(l->attention->make_cache(batch, max_len, cfg_.dtype));
    return cache;
  }
  Var forward_cached(const Tensor& ids, DecodeCache& cache) override {
    return run(ids, &as_transformer_cache(cache, layers->size(), "llama"));
  }

 private:
  Var run(const Tensor& ids, TransformerCache* cache) {
    LOUPE_CHECK(ids.dtype() == DType::I64 && ids.dim() == 2, "llama: ids must be i64 [B, T], got ", ids.str());
    if (!cache)
      LOUPE_CHECK(ids.size(1) <= cfg_.block_size, "llama: sequence of ", ids.size(1), " tokens exceeds block_size ",
                  cfg_.block_size);
    Var x = tok_embeddings->forward(ids);
    for (size_t l = 0; l < layers->size(); ++l) x = (*layers)[l].forward(x, cache ? &cache->layers[l] : nullptr);
    x = norm->forward(x);
    return output ? output->forward(x) : matmul(x, transpose(tok_embeddings->weight, 0, 1));
  }

  std::shared_ptr<nn::Embedding> tok_embeddings;
  std::shared_ptr<nn::ModuleList<Layer>> layers;
  std::shared_ptr<nn::RMSNorm> norm;
  std::shared_ptr<nn::Linear> output;  // only when untied
};

static ModelRegistrar registrar("llama", [](const nlohmann::json& j) {
  return std::make_shared<Llama>(LlamaConfig::from_json(j));
});

}  // namespace
}  // namespace loupe::models
