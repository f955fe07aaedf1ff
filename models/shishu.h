// ShishuLM (Kumar & Srinivasan, arXiv 2510.13860): a GPT or LLaMA parent whose top attention
// sub-layers are dropped. Equations and defaults: docs/models/shishu.md.
//   layers 0 .. A−1       full parent blocks   x = x + Attn(Norm1(x));  x = x + MLP(Norm2(x))
//   layers A .. A+M−1     MLP-only blocks      x = x + MLP(Norm2(x))      (no attention, no KV cache)
//   share_pairs           MLP-only layers (A+2m, A+2m+1) are one module applied twice; odd M: the last
//                         MLP-only layer is unshared.
// The blocks are the parent's own (GPTBlock, LlamaBlock), with the parent's names, keys, defaults
// and init, so a parent checkpoint loads into a ShishuLM with strict=false. A shared pair's
// parameters are stored once, under the first layer's name.
#pragma once
#include <string>

#include "models/gpt.h"
#include "models/llama.h"

namespace loupe::models {

struct ShishuConfig {
  std::string parent = "gpt";  // "gpt" | "llama"
  int64_t attn_layers = 2, mlp_layers = 2;
  bool share_pairs = false;
  GPTConfig gpt;      // the parent's config (every other key), n_layer = attn_layers + mlp_layers
  LlamaConfig llama;

  int64_t n_layer() const { return attn_layers + mlp_layers; }
  bool is_gpt() const { return parent == "gpt"; }
  static const ConfigKeys<ShishuConfig>& keys();  // Shishu's own keys; the rest are the parent's
  static ShishuConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  double count_parameters() const;
};

class ShishuLM : public ConfiguredDecoder<ShishuConfig> {
 public:
  explicit ShishuLM(const ShishuConfig& c);
  // Applies layers [first, last) to hidden states x [B, T, C] (no cache): for tests of one block.
  Var forward_layers(Var x, int64_t first, int64_t last);
  // The module of layer i (the same object for both layers of a shared pair).
  const nn::Module& layer(int64_t i) const;
};

}  // namespace loupe::models
