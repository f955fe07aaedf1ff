// ShishuLM (shared/specs/shishu.md; Kumar & Srinivasan, arXiv 2510.13860): a GPT or
// LLaMA parent whose top attention sub-layers are dropped.
//   layers 0 .. A−1       full parent blocks   x = x + Attn(Norm1(x));  x = x + MLP(Norm2(x))
//   layers A .. A+M−1     MLP-only blocks      x = x + MLP(Norm2(x))      (no attention, no KV cache)
//   share_pairs           MLP-only layers (A+2m, A+2m+1) are one module applied twice; odd M: the last
//                         MLP-only layer is unshared.
// Parameter names are the parent's (transformer.h.N.* for gpt, layers.N.* for llama), the MLP-only
// blocks keep the names of the parent's MLP sub-layer (ln_2/mlp, ffn_norm/feed_forward), so a parent
// checkpoint loads into a ShishuLM with strict=false. A shared pair's parameters are stored once,
// under the first layer's name.
#pragma once
#include <string>

#include "models/model.h"

namespace loupe::nn {
class Embedding;
class Dropout;
class LayerNorm;
class RMSNorm;
class Linear;
}  // namespace loupe::nn

namespace loupe::models {

struct ShishuConfig {
  std::string parent = "gpt";  // "gpt" | "llama"
  int64_t attn_layers = 2, mlp_layers = 2;
  bool share_pairs = false;
  // The parent's keys (see models/gpt.cpp, models/llama.cpp); n_layer is attn_layers + mlp_layers.
  int64_t vocab_size = 0, block_size = 64, n_head = 4, n_embd = 128;
  int64_t n_kv_head = 0;               // llama: grouped-query attention (0: = n_head)
  int64_t ffn_hidden = 0, multiple_of = 32;  // llama: SwiGLU width (0: 2/3·4·n_embd rounded up)
  double dropout = 0.0;
  bool bias = false;                   // gpt: biases in Linears and LayerNorms
  bool tie_weights = true;             // default: gpt true, llama false (as the parents)
  bool tanh_gelu = false;              // gpt: "activation": "gelu_tanh"
  double norm_eps = 1e-5;              // gpt: "ln_eps", llama: "norm_eps"
  double rope_base = 10000.0;
  uint64_t seed = 1337;
  DType dtype = DType::F32;

  int64_t n_layer() const { return attn_layers + mlp_layers; }
  bool is_gpt() const { return parent == "gpt"; }
  static ShishuConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

class ShishuBlock;  // a parent block, with or without its attention sub-layer (models/shishu.cpp)
struct TransformerCache;

class ShishuLM : public ConfiguredModel<ShishuConfig> {
 public:
  explicit ShishuLM(const ShishuConfig& c);
  Var forward(const Tensor& ids) override;
  std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const override;
  Var forward_cached(const Tensor& ids, DecodeCache& cache) override;

  // Applies layers [first, last) to hidden states x [B, T, C] (no cache): for tests of one block.
  Var forward_layers(Var x, int64_t first, int64_t last);
  // The module of layer i (the same object for both layers of a shared pair).
  const nn::Module& layer(int64_t i) const;

 private:
  Var run(const Tensor& ids, TransformerCache* cache);
  std::vector<std::shared_ptr<ShishuBlock>> layers_;  // layer i (a shared pair appears twice)
  std::shared_ptr<nn::Embedding> wte_, wpe_;  // token / position tables (wpe_: gpt only)
  std::shared_ptr<nn::Dropout> drop_;         // gpt: embedding dropout
  std::shared_ptr<nn::LayerNorm> ln_f_;       // gpt final norm
  std::shared_ptr<nn::RMSNorm> norm_;         // llama final norm
  std::shared_ptr<nn::Linear> lm_head_;       // null when tied to wte
};

}  // namespace loupe::models
