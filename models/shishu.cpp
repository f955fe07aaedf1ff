// ShishuLM: the parent's (gpt or llama) bottom A blocks, then M MLP-only blocks, optionally
// shared in adjacent pairs. See models/shishu.h and shared/specs/shishu.md.
//
// The blocks are built from the same nn layers as models/gpt.cpp and models/llama.cpp with the
// same names, seeds and init, so with the same seed the first A layers and the embeddings start
// from exactly the parent's initial weights.
#include "models/shishu.h"

#include <cmath>

#include "autograd/ops.h"
#include "models/config_reader.h"
#include "models/kv_cache.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/rmsnorm.h"
#include "nn/swiglu.h"

namespace loupe::models {

// ------------------------------------------------------------------ config
ShishuConfig ShishuConfig::from_json(const nlohmann::json& j) {
  ConfigReader r(j, "shishu");
  ShishuConfig c;
  c.parent = r.choice("parent", c.parent, {"gpt", "llama"});
  c.attn_layers = r.integer("attn_layers", c.attn_layers, 1);
  c.mlp_layers = r.integer("mlp_layers", c.mlp_layers, 0);
  c.share_pairs = r.boolean("share_pairs", c.share_pairs);
  const int64_t n_layer = r.integer("n_layer", c.n_layer(), 1);  // optional: a parent config may keep it
  LOUPE_CHECK(n_layer == c.n_layer(), "shishu config: n_layer ", n_layer, " must equal attn_layers ", c.attn_layers,
              " + mlp_layers ", c.mlp_layers);
  c.vocab_size = r.integer("vocab_size", 0, 1);
  LOUPE_CHECK(c.vocab_size > 0, "shishu config: \"vocab_size\" is required");
  c.block_size = r.integer("block_size", c.block_size, 1);
  c.n_head = r.integer("n_head", c.n_head, 1);
  c.n_embd = r.integer("n_embd", c.n_embd, 1);
  c.dropout = r.number("dropout", c.dropout, 0.0, 0.99);
  c.seed = uint64_t(r.integer("seed", int64_t(c.seed), 0));
  c.dtype = r.choice("dtype", "f32", {"f32", "f64"}) == "f64" ? DType::F64 : DType::F32;
  if (c.is_gpt()) {  // the parent's keys and defaults (models/gpt.cpp)
    c.bias = r.boolean("bias", false);
    c.tie_weights = r.boolean("tie_weights", true);
    c.tanh_gelu = r.choice("activation", "gelu", {"gelu", "gelu_tanh"}) == "gelu_tanh";
    c.norm_eps = r.number("ln_eps", 1e-5, 0.0, 1.0);
  } else {  // models/llama.cpp
    c.n_kv_head = r.integer("n_kv_head", 0, 0);
    c.multiple_of = r.integer("multiple_of", c.multiple_of, 1);
    c.ffn_hidden = r.integer("ffn_hidden", 0, 0);
    c.norm_eps = r.number("norm_eps", 1e-5, 0.0, 1.0);
    c.rope_base = r.number("rope_base", c.rope_base, 1.0, 1e12);
    c.tie_weights = r.boolean("tie_weights", false);
  }
  r.finish();
  if (!c.is_gpt()) {
    if (c.n_kv_head == 0) c.n_kv_head = c.n_head;
    if (c.ffn_hidden == 0) c.ffn_hidden = nn::swiglu_hidden(c.n_embd, c.multiple_of);
  }
  LOUPE_CHECK(c.n_embd % c.n_head == 0, "shishu config: n_embd ", c.n_embd, " must be a multiple of n_head ", c.n_head);
  return c;
}

nlohmann::json ShishuConfig::to_json() const {
  nlohmann::json j = {{"type", "shishu"},         {"parent", parent},         {"attn_layers", attn_layers},
                      {"mlp_layers", mlp_layers}, {"share_pairs", share_pairs}, {"vocab_size", vocab_size},
                      {"block_size", block_size}, {"n_head", n_head},         {"n_embd", n_embd},
                      {"dropout", dropout},       {"tie_weights", tie_weights}, {"seed", seed},
                      {"dtype", dtype == DType::F64 ? "f64" : "f32"}};
  if (is_gpt()) {
    j["bias"] = bias, j["activation"] = tanh_gelu ? "gelu_tanh" : "gelu", j["ln_eps"] = norm_eps;
  } else {
    j["n_kv_head"] = n_kv_head, j["ffn_hidden"] = ffn_hidden, j["multiple_of"] = multiple_of;
    j["norm_eps"] = norm_eps, j["rope_base"] = rope_base;
  }
  return j;
}

// ------------------------------------------------------------------ one layer
// A parent block; without attention it is the MLP-only block  x = x + MLP(Norm2(x)).
class ShishuBlock : public nn::Module {
 public:
  ShishuBlock(const ShishuConfig& c, int64_t layer, bool with_attention) {
    const int64_t d = c.n_embd;
    nn::AttentionConfig ac;
    ac.n_embd = d, ac.n_head = c.n_head, ac.dropout = c.dropout;
    if (c.is_gpt()) {  // transformer.h.N.{ln_1, attn, ln_2, mlp}
      const uint64_t seed = nn::param_seed(c.seed, "h." + std::to_string(layer));
      ac.bias = c.bias, ac.seed = seed;
      if (with_attention) {
        ln_1 = register_module("ln_1", std::make_shared<nn::LayerNorm>(d, c.bias, c.norm_eps, c.dtype));
        attn = register_module("attn", std::make_shared<nn::CausalSelfAttention>(ac, c.dtype));
      }
      ln_2 = register_module("ln_2", std::make_shared<nn::LayerNorm>(d, c.bias, c.norm_eps, c.dtype));
      mlp = register_module("mlp", std::make_shared<nn::MLP>(d, 4 * d, c.bias, c.dropout, seed, c.tanh_gelu, c.dtype));
    } else {  // layers.N.{attention_norm, attention, ffn_norm, feed_forward}
      const uint64_t seed = nn::param_seed(c.seed, "layers." + std::to_string(layer));
      ac.n_kv_head = c.n_kv_head, ac.rope = true, ac.rope_base = c.rope_base, ac.seed = seed;
      if (with_attention) {
        attention_norm = register_module("attention_norm", std::make_shared<nn::RMSNorm>(d, c.norm_eps, c.dtype));
        attn = register_module("attention", std::make_shared<nn::CausalSelfAttention>(ac, c.dtype));
      }
      ffn_norm = register_module("ffn_norm", std::make_shared<nn::RMSNorm>(d, c.norm_eps, c.dtype));
      feed_forward = register_module("feed_forward",
                                     std::make_shared<nn::SwiGLU>(d, c.ffn_hidden, c.dropout, seed, c.dtype));
    }
  }

  Var forward(Var x, nn::KVCache* cache) {
    if (attn) x = x + attn->forward(ln_1 ? ln_1->forward(x) : attention_norm->forward(x), cache);
    return x + (mlp ? mlp->forward(ln_2->forward(x)) : feed_forward->forward(ffn_norm->forward(x)));
  }

  std::shared_ptr<nn::CausalSelfAttention> attn;  // null in an MLP-only block
  std::shared_ptr<nn::LayerNorm> ln_1, ln_2;      // gpt
  std::shared_ptr<nn::MLP> mlp;
  std::shared_ptr<nn::RMSNorm> attention_norm, ffn_norm;  // llama
  std::shared_ptr<nn::SwiGLU> feed_forward;
};

// ------------------------------------------------------------------ the model
namespace {
struct Container : nn::Module {  // nanoGPT's `transformer` ModuleDict
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};
}  // namespace

ShishuLM::ShishuLM(const ShishuConfig& c) : ConfiguredModel(c) {
  const int64_t d = c.n_embd, V = c.vocab_size;
  auto list = std::make_shared<nn::ModuleList<ShishuBlock>>();
  if (c.is_gpt()) {
    auto t = register_module("transformer", std::make_shared<Container>());
    wte_ = t->add("wte", std::make_shared<nn::Embedding>(V, d, c.dtype));
    wpe_ = t->add("wpe", std::make_shared<nn::Embedding>(c.block_size, d, c.dtype));
    drop_ = t->add("drop", std::make_shared<nn::Dropout>(c.dropout, nn::param_seed(c.seed, "drop")));
    t->add("h", list);
    ln_f_ = t->add("ln_f", std::make_shared<nn::LayerNorm>(d, c.bias, c.norm_eps, c.dtype));
    if (!c.tie_weights) lm_head_ = register_module("lm_head", std::make_shared<nn::Linear>(d, V, false, c.dtype));
  } else {
    wte_ = register_module("tok_embeddings", std::make_shared<nn::Embedding>(V, d, c.dtype));
    register_module("layers", list);
    norm_ = register_module("norm", std::make_shared<nn::RMSNorm>(d, c.norm_eps, c.dtype));
    if (!c.tie_weights) lm_head_ = register_module("output", std::make_shared<nn::Linear>(d, V, false, c.dtype));
  }
  for (int64_t i = 0; i < c.attn_layers; ++i) layers_.push_back(std::make_shared<ShishuBlock>(c, i, true));
  for (int64_t m = 0; m < c.mlp_layers; ++m) {
    // Paired sharing: the second layer of a pair is the first one's module again (registered
    // under both names; named_parameters lists it once, under the first).
    const bool second_of_pair = c.share_pairs && m % 2 == 1;
    layers_.push_back(second_of_pair ? layers_.back() : std::make_shared<ShishuBlock>(c, c.attn_layers + m, false));
  }
  for (auto& l : layers_) list->push_back(l);
  // The parents' init: N(0, 0.02), residual projections N(0, 0.02/√(2L)) with L = A + M applied layers.
  for (auto& [name, p] : named_parameters()) {
    if (p.dim() < 2) continue;
    const bool residual = c.is_gpt() ? name.ends_with("c_proj.weight")
                                     : name.ends_with("attention.c_proj.weight") || name.ends_with("feed_forward.w2.weight");
    nn::init_normal_(p, residual ? 0.02 / std::sqrt(2.0 * double(c.n_layer())) : 0.02, c.seed, name);
  }
}

const nn::Module& ShishuLM::layer(int64_t i) const {
  LOUPE_CHECK(i >= 0 && i < int64_t(layers_.size()), "shishu: no layer ", i);
  return *layers_[size_t(i)];
}

Var ShishuLM::forward_layers(Var x, int64_t first, int64_t last) {
  LOUPE_CHECK(0 <= first && first <= last && last <= int64_t(layers_.size()), "shishu: bad layer range [", first, ", ",
              last, ")");
  for (int64_t l = first; l < last; ++l) x = layers_[size_t(l)]->forward(x, nullptr);
  return x;
}

Var ShishuLM::run(const Tensor& ids, TransformerCache* cache) {
  LOUPE_CHECK(ids.dtype() == DType::I64 && ids.dim() == 2, "shishu: ids must be i64 [B, T], got ", ids.str());
  const int64_t T = ids.size(1), pos0 = cache ? cache->length() : 0;
  LOUPE_CHECK(pos0 + T <= cfg_.block_size || (!cfg_.is_gpt() && cache), "shishu: sequence of ", pos0 + T,
              " tokens exceeds block_size ", cfg_.block_size);
  Var x = wte_->forward(ids);
  if (cfg_.is_gpt()) x = drop_->forward(x + narrow(wpe_->weight, 0, pos0, T));
  // Only the attention layers (the first A) have a KV cache.
  for (size_t l = 0; l < layers_.size(); ++l)
    x = layers_[l]->forward(x, cache && int64_t(l) < cfg_.attn_layers ? &cache->layers[l] : nullptr);
  x = cfg_.is_gpt() ? ln_f_->forward(x) : norm_->forward(x);
  return lm_head_ ? lm_head_->forward(x) : matmul(x, transpose(wte_->weight, 0, 1));  // tied head
}

Var ShishuLM::forward(const Tensor& ids) { return run(ids, nullptr); }

std::unique_ptr<DecodeCache> ShishuLM::make_cache(int64_t batch, int64_t max_len) const {
  LOUPE_CHECK(batch >= 1 && max_len >= 1 && (!cfg_.is_gpt() || max_len <= cfg_.block_size), "shishu: cache needs batch >= 1 and 1 <= max_len",
              cfg_.is_gpt() ? " <= block_size (learned positions)" : "", ", got batch ", batch, ", max_len ", max_len);
  auto cache = std::make_unique<TransformerCache>();
  for (int64_t l = 0; l < cfg_.attn_layers; ++l)
    cache->layers.push_back(layers_[size_t(l)]->attn->make_cache(batch, max_len, cfg_.dtype));
  return cache;
}

Var ShishuLM::forward_cached(const Tensor& ids, DecodeCache& cache) {
  return run(ids, &as_transformer_cache(cache, size_t(cfg_.attn_layers), "shishu"));
}

static ModelRegistrar shishu_registrar("shishu", [](const nlohmann::json& j) -> std::shared_ptr<LanguageModel> {
  return std::make_shared<ShishuLM>(ShishuConfig::from_json(j));
});

}  // namespace loupe::models
