// Causal multi-head self-attention with optional grouped-query heads and RoPE,
// over the fused flash-style causal_attention op. One fused projection c_attn
// produces [q | k | v] (H·D + 2·Hkv·D features), c_proj mixes the heads back.
#pragma once
#include <functional>
#include <memory>
#include <utility>

#include "autograd/nn_ops.h"

#include "nn/dropout.h"
#include "nn/linear.h"

namespace loupe::nn {

struct AttentionConfig {
  int64_t n_embd = 128, n_head = 4;
  int64_t n_kv_head = 0;  // 0: = n_head (plain multi-head); fewer: grouped-query attention
  bool bias = false;
  double dropout = 0;       // on attention probabilities and on the output (as nanoGPT)
  bool rope = false;        // rotate q, k by position (LLaMA); GPT uses learned positions instead
  double rope_base = 10000;
};

// What one layer keeps between decoding steps (KV cache, running sums...); models/decoder.h
// holds one per layer.
struct LayerCache {
  virtual ~LayerCache() = default;
  virtual int64_t bytes() const = 0;
};

// Keys and values of one layer for incremental decoding, stored [B, max_len, Hkv, D].
struct KVCache : LayerCache {
  KVCache(Tensor k_, Tensor v_) : k(std::move(k_)), v(std::move(v_)) {}
  Tensor k, v;
  int64_t len = 0;
  int64_t bytes() const override { return (k.numel() + v.numel()) * int64_t(dtype_size(k.dtype())); }
  // Appends k_new, v_new [B, T, Hkv, D] at position len and returns views of all cached
  // keys and values [B, len, Hkv, D]; errors name `who` when the cache is too small.
  std::pair<Tensor, Tensor> append(const Tensor& k_new, const Tensor& v_new, const char* who);
};

class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(const AttentionConfig& cfg, DType dtype = DType::F32);
  // x [B, T, C] -> [B, T, C]. With a cache: x holds the next T tokens after cache->len
  // cached ones; their keys/values are appended and the queries attend to all of them.
  Var forward(const Var& x, KVCache* cache = nullptr) const;
  std::unique_ptr<KVCache> make_cache(int64_t batch, int64_t max_len, DType dtype) const;
  // The attention of the heads: q [B, H, Tq, D] (queries at pos0..) over k, v [B, Hkv, Tk, D] -> [B, H, Tq, D].
  using Attend = std::function<Var(const Var& q, const Var& k, const Var& v, int64_t pos0)>;

  AttentionConfig cfg;
  int64_t head_dim, n_kv;
  Child<Linear> c_attn, c_proj;
  Child<Dropout> resid_drop;

 protected:
  // The two steps a variant may replace (Wiola's SRPE and ATM do): the positions of q [B, T, H, D]
  // or k [B, T, Hkv, D] whose first token is at pos0 (RoPE when cfg.rope), a property of the module,
  virtual Var rotate(const Var& x, int64_t pos0) const;
  // and the attention itself, which a variant passes per call (with what that call needs bound in).
  Var forward_attending(const Var& x, KVCache* cache, const Attend& attend) const;
  // The causal softmax attention (grouped-query heads read their group's key/value head).
  Var attend(const Var& q, const Var& k, const Var& v, int64_t pos0) const;
};

// The attention-probability dropout options of a module in training mode (p > 0): a stateless
// Philox key drawn at the current module path (autograd/run_context.h); p = 0 otherwise.
AttentionOptions attention_dropout(bool training, double p);

}  // namespace loupe::nn
