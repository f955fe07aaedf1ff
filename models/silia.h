// Silia: one block fuses attention and the SwiGLU feed-forward (shared/specs/silia.md).
//   u = Norm(x);  q = Wq u,  k = Wk u  (per head, RoPE or learned positions)
//   A = softmax(q kᵀ/√dh + causal mask)            one set of weights per head
//   g = A·(Wg u),  v = A·(Wv u)                      the SwiGLU gate and up branches, mixed by A
//   x = x + Wo · concat_heads(SiLU(g) ⊙ v)
// Wq, Wk, Wg, Wv are stored as one fused projection `attn.c_attn.weight` with rows [q; k; g; v]
// (no k rows when share_qk), so the block does one GEMM in and one GEMM out.
#pragma once
#include <string>

#include "models/model.h"

namespace loupe::models {

struct SiliaConfig {
  int64_t vocab_size = 65;
  int64_t block_size = 64;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
  double value_width = 1.0;     // g and v width = value_width · n_embd (split over the heads)
  bool separate_ffn = false;    // ablation: add a normal GELU MLP after each Silia block
  bool share_qk = false;        // k = q (one projection)
  std::string norm = "layernorm";  // "layernorm" | "rmsnorm"
  std::string pos = "learned";     // "learned" (wpe, as nanoGPT) | "rope"
  double rope_base = 10000.0;
  bool bias = false;            // LayerNorm bias (projections have none)
  double norm_eps = 1e-5;
  double dropout = 0.0;         // residual and attention-output dropout
  uint64_t init_seed = 1337;     // JSON "seed": initial weights and dropout streams
  DType dtype = DType::F32;     // JSON "dtype": parameter dtype ("f64" for gradcheck)

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t value_dim() const;  // total g (= v) width, a multiple of n_head
  static SiliaConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// Weights of one Silia block, as Vars (so a gradcheck can pass its own leaves).
struct SiliaBlockWeights {
  Var norm_w, norm_b;  // norm_b undefined for rmsnorm or bias=false
  Var c_attn;          // [(share_qk ? 1 : 2)·d + 2·dv, d], rows [q; k; g; v]
  Var c_proj;          // Wo [d, dv]
};

// Per-layer cache of one Silia block: k after RoPE [B, max_len, H, dh] and the two value
// branches before mixing, [Wg u | Wv u] per head: [B, max_len, H, 2·dvh].
struct SiliaLayerCache {
  Tensor k, gv;
};

// The mixing half of a block: returns Wo · concat_heads(SiLU(A·Wg u) ⊙ (A·Wv u)) for u = Norm(x)
// (without the residual add). Tokens of x sit at positions pos_offset + t. With a cache, the
// new k and [g|v] are written at [pos_offset, pos_offset + T) and attention reads the whole prefix.
Var silia_mix(const Var& x, const SiliaBlockWeights& w, const SiliaConfig& c, int64_t pos_offset,
              SiliaLayerCache* cache = nullptr, double dropout_p = 0, uint64_t dropout_counter = 0);

class SiliaModel : public ConfiguredModel<SiliaConfig> {
 public:
  explicit SiliaModel(const SiliaConfig& c);
  Var forward(const Tensor& ids) override;
  std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const override;
  Var forward_cached(const Tensor& ids, DecodeCache& cache) override;
  const SiliaBlockWeights& block_weights(int64_t layer) const;

 private:
  // Shared by forward (caches == nullptr) and forward_cached.
  Var run(const Tensor& ids, int64_t pos_offset, std::vector<SiliaLayerCache>* caches);
  Var wte_, wpe_, lnf_w_, lnf_b_;  // wpe_ undefined with RoPE; lnf_b_ undefined without bias
  std::vector<SiliaBlockWeights> blocks_;
  struct Ffn {  // separate_ffn only: x = x + W2 · GELU(W1 · Norm(x))
    Var norm_w, norm_b, c_fc, c_proj;
  };
  std::vector<Ffn> ffns_;
  uint64_t forward_count_ = 0;  // dropout stream counter, advanced per training forward
};

}  // namespace loupe::models
