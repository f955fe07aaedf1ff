// Silia: one block fuses attention and the SwiGLU feed-forward. Equations and defaults:
// docs/models/silia.md.
//   u = Norm(x);  q = Wq u,  k = Wk u  (per head, RoPE or learned positions)
//   A = softmax(q kᵀ/√dh + causal mask)            one set of weights per head
//   g = A·(Wg u),  v = A·(Wv u)                      the SwiGLU gate and up branches, mixed by A
//   x = x + Wo · concat_heads(SiLU(g) ⊙ v)
// Wq, Wk, Wg, Wv are stored as one fused projection `attn.c_attn.weight` with rows [q; k; g; v]
// (no k rows when share_qk), so the block does one GEMM in and one GEMM out.
#pragma once
#include <string>

#include "models/decoder.h"

namespace loupe::models {

struct SiliaConfig : DecoderShape {
  double value_width = 1.0;     // g and v width = value_width · n_embd (split over the heads)
  bool separate_ffn = false;    // ablation: add a normal GELU MLP after each Silia block
  bool share_qk = false;        // k = q (one projection)
  std::string norm = "layernorm";  // "layernorm" | "rmsnorm"
  std::string pos = "learned";     // "learned" (wpe, as nanoGPT) | "rope"
  double rope_base = 10000.0;
  bool bias = false;            // LayerNorm bias (projections have none)
  double norm_eps = 1e-5;

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t value_dim() const;  // total g (= v) width, a multiple of n_head
  bool norm_bias() const { return norm == "layernorm" && bias; }
  static const ConfigKeys<SiliaConfig>& keys();
  static SiliaConfig from_json(const nlohmann::json& j) { return read_config<SiliaConfig>(j); }
  void resolve(const std::string& model) const;  // the relations between keys
  nlohmann::json to_json() const { return keys().write(*this, "silia"); }
  DecoderSpec spec() const;
  double count_parameters() const;
};

// Weights of one Silia block, as Vars (so a gradcheck can pass its own leaves).
struct SiliaBlockWeights {
  Var norm_w, norm_b;  // norm_b undefined for rmsnorm or bias=false
  Var c_attn;          // [(share_qk ? 1 : 2)·d + 2·dv, d], rows [q; k; g; v]
  Var c_proj;          // Wo [d, dv]
};

// Per-layer cache of one Silia block, an nn::KVCache: k after RoPE [B, max_len, H, dh], and as
// its values the two branches before mixing, [Wg u | Wv u] per head: [B, max_len, H, 2·dvh].
using SiliaLayerCache = nn::KVCache;

// The mixing of normalised inputs u [B, T, d]: Wo · concat_heads(SiLU(A·Wg u) ⊙ (A·Wv u)).
// Tokens sit at positions pos_offset + t. With a cache, the new k and [g|v] are written at
// [pos_offset, pos_offset + T) and attention reads the whole prefix. opt: attention dropout.
Var silia_attend(const Var& u, const Var& c_attn, const Var& c_proj, const SiliaConfig& c, int64_t pos_offset,
                 SiliaLayerCache* cache, AttentionOptions opt);
// The mixing half of a block with its norm, u = Norm(x) (no residual add, no dropout).
Var silia_mix(const Var& x, const SiliaBlockWeights& w, const SiliaConfig& c, int64_t pos_offset,
              SiliaLayerCache* cache = nullptr);

class SiliaModel : public ConfiguredDecoder<SiliaConfig> {
 public:
  explicit SiliaModel(const SiliaConfig& c);
  SiliaBlockWeights block_weights(int64_t layer) const;
};

}  // namespace loupe::models
