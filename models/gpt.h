// GPT-2 as in nanoGPT (Karpathy, model.py). Equations and defaults: docs/models/gpt.md.
//
//   x = Dropout(wte[ids] + wpe[0..T))
//   for each block:  x = x + Attn(LN_1(x));  x = x + MLP(LN_2(x))
//   logits = LN_f(x) · wteᵀ
//
// The config and the block are public: ShishuLM (models/shishu.cpp) builds GPT blocks too.
#pragma once
#include <string>

#include "models/decoder.h"
#include "nn/mlp.h"

namespace loupe::models {

struct GPTConfig : DecoderShape {
  bool bias = false;                 // biases in Linears and LayerNorms
  bool tie_weights = true;           // lm_head shares the token embedding
  std::string activation = "gelu";   // nanoGPT's exact GELU, or GPT-2's "gelu_tanh"
  double norm_eps = 1e-5;

  static const ConfigKeys<GPTConfig>& keys();
  static GPTConfig from_json(const nlohmann::json& j) { return read_config<GPTConfig>(j); }
  nlohmann::json to_json() const { return keys().write(*this, "gpt"); }
  void resolve(const std::string& model) const { check_shape(model, true); }
  DecoderSpec spec(const std::string& type) const;
  double block_parameters(bool with_attention) const;
  double count_parameters() const;
};

// x = x + Attn(ln_1(x)) (only with_attention);  x = x + MLP(ln_2(x))
class GPTBlock : public PreNormBlock {
 public:
  GPTBlock(const GPTConfig& c, bool with_attention = true);
  // The residual projections nanoGPT initialises with std 0.02/√(2·n_layer).
  static const std::vector<std::string>& residual_projections();
};

}  // namespace loupe::models
