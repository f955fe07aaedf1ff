// Causal multi-head self-attention with optional grouped-query heads and RoPE,
// over the fused flash-style causal_attention op. One fused projection c_attn
// produces [q | k | v] (H·D + 2·Hkv·D features), c_proj mixes the heads back.
#pragma once
#include <memory>

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
  uint64_t seed = 0;        // dropout streams
};

// Keys and values of one layer for incremental decoding, stored [B, max_len, Hkv, D].
struct KVCache {
  Tensor k, v;
  int64_t len = 0;
};

class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(const AttentionConfig& cfg, DType dtype = DType::F32);
  // x [B, T, C] -> [B, T, C]. With a cache: x holds the next T tokens after cache->len
  // cached ones; their keys/values are appended and the queries attend to all of them.
  Var forward(const Var& x, KVCache* cache = nullptr);
  KVCache make_cache(int64_t batch, int64_t max_len, DType dtype) const;

  AttentionConfig cfg;
  int64_t head_dim, n_kv;
  std::shared_ptr<Linear> c_attn, c_proj;
  std::shared_ptr<Dropout> resid_drop;
  uint64_t attn_calls = 0;  // training-mode calls: the Philox stream of the attention-dropout mask
};

}  // namespace loupe::nn
