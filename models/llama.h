// A LLaMA-style decoder (Touvron et al. 2023). Equations and defaults: docs/models/llama.md.
//
//   x = tok_embeddings[ids]
//   for each layer:  x = x + Attn(RMSNorm(x));  x = x + SwiGLU(RMSNorm(x))     (RoPE on q, k)
//   logits = RMSNorm(x) · Woutᵀ                 (Wout = tok_embeddings when tied)
//
// The config and the block are public: Wiola extends the config, ShishuLM builds the blocks.
#pragma once
#include <string>

#include "models/decoder.h"
#include "nn/swiglu.h"

namespace loupe::models {

struct LlamaConfig : DecoderShape {
  int64_t n_kv_head = 0;    // 0: = n_head; fewer: grouped-query attention
  int64_t ffn_hidden = 0;   // 0: 2/3·4·n_embd rounded up to a multiple of multiple_of
  int64_t multiple_of = 32;
  double norm_eps = 1e-5, rope_base = 10000.0;
  bool tie_weights = false;

  static const ConfigKeys<LlamaConfig>& keys();
  static LlamaConfig from_json(const nlohmann::json& j) { return read_config<LlamaConfig>(j); }
  nlohmann::json to_json() const { return keys().write(*this, "llama"); }
  // Fills the derived defaults (0 above) and checks the head layout.
  void resolve(const std::string& model);
  DecoderSpec spec(const std::string& type) const;
  double block_parameters(bool with_attention) const;  // after resolve()
  double count_parameters() const;
};

// x = x + Attn(attention_norm(x)) (only with_attention);  x = x + SwiGLU(ffn_norm(x))
class LlamaBlock : public PreNormBlock {
 public:
  LlamaBlock(const LlamaConfig& c, bool with_attention = true);
  static const std::vector<std::string>& residual_projections();
  static nn::AttentionConfig attention_config(const LlamaConfig& c);
};

}  // namespace loupe::models
