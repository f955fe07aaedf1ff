#include "nn/attention.h"

#include "autograd/nn_ops.h"
#include "autograd/ops.h"

namespace loupe::nn {

CausalSelfAttention::CausalSelfAttention(const AttentionConfig& c, DType dtype) : cfg(c) {
  n_kv = cfg.n_kv_head > 0 ? cfg.n_kv_head : cfg.n_head;
  LOUPE_CHECK(cfg.n_head > 0 && cfg.n_embd % cfg.n_head == 0, "CausalSelfAttention: n_embd ", cfg.n_embd,
              " must be a positive multiple of n_head ", cfg.n_head);
  LOUPE_CHECK(cfg.n_head % n_kv == 0, "CausalSelfAttention: n_head ", cfg.n_head, " must be a multiple of n_kv_head ",
              n_kv);
  head_dim = cfg.n_embd / cfg.n_head;
  LOUPE_CHECK(!cfg.rope || head_dim % 2 == 0, "CausalSelfAttention: RoPE needs an even head size, got ", head_dim);
  c_attn = register_module("c_attn", std::make_shared<Linear>(cfg.n_embd, (cfg.n_head + 2 * n_kv) * head_dim,
                                                              cfg.bias, dtype));
  c_proj = register_module("c_proj", std::make_shared<Linear>(cfg.n_embd, cfg.n_embd, cfg.bias, dtype));
  resid_drop = register_module("resid_drop", std::make_shared<Dropout>(cfg.dropout));
}

std::pair<Tensor, Tensor> KVCache::append(const Tensor& k_new, const Tensor& v_new, const char* who) {
  const int64_t B = k_new.size(0), T = k_new.size(1);
  LOUPE_CHECK(k.size(0) == B && len + T <= k.size(1), who, ": cache for batch ", k.size(0), " and ", k.size(1),
              " positions cannot take ", T, " more tokens after ", len, " (batch ", B, ")");
  k.narrow(1, len, T).copy_(k_new);
  v.narrow(1, len, T).copy_(v_new);
  len += T;
  return {k.narrow(1, 0, len), v.narrow(1, 0, len)};
}

std::unique_ptr<KVCache> CausalSelfAttention::make_cache(int64_t batch, int64_t max_len, DType dtype) const {
  return std::make_unique<KVCache>(Tensor::zeros({batch, max_len, n_kv, head_dim}, dtype),
                                   Tensor::zeros({batch, max_len, n_kv, head_dim}, dtype));
}

AttentionOptions attention_dropout(bool training, double p) {
  AttentionOptions opt;
  if (training && p > 0) {
    const RandomKey key = next_random_key("attn");
    opt.dropout_p = p;
    opt.seed = key.seed;
    opt.counter = key.stream;
  }
  return opt;
}

Var CausalSelfAttention::rotate(const Var& x, int64_t pos0) const {
  return cfg.rope ? rope(x, pos0, cfg.rope_base) : x;
}

Var CausalSelfAttention::attend(const Var& q, const Var& k, const Var& v, int64_t pos0) const {
  AttentionOptions opt = attention_dropout(is_training(), cfg.dropout);
  opt.q_offset = pos0;
  return causal_attention(q, k, v, opt);
}

Var CausalSelfAttention::forward(const Var& x, KVCache* cache) const {
  return forward_attending(x, cache, [this](const Var& q, const Var& k, const Var& v, int64_t pos0) {
    return attend(q, k, v, pos0);
  });
}

Var CausalSelfAttention::forward_attending(const Var& x, KVCache* cache, const Attend& attend) const {
  LOUPE_CHECK(x.dim() == 3 && x.size(2) == cfg.n_embd, "CausalSelfAttention: input ", x.value().str(),
              " is not [B, T, ", cfg.n_embd, "]");
  const int64_t B = x.size(0), T = x.size(1), H = cfg.n_head, D = head_dim;
  const int64_t pos0 = cache ? cache->len : 0;  // position of the first new token

  // [q | k | v] = c_attn(x), each viewed as [B, T, heads, D] (views of the one projection).
  std::vector<Var> qkv = split(c_attn(x), {H * D, n_kv * D, n_kv * D}, 2);
  const Var q = rotate(reshape(qkv[0], {B, T, H, D}), pos0);
  Var k = rotate(reshape(qkv[1], {B, T, n_kv, D}), pos0);
  Var v = reshape(qkv[2], {B, T, n_kv, D});
  if (cache) {
    // Append the new keys/values, then attend over everything cached (no gradient flows into the cache).
    auto [kc, vc] = cache->append(k.value(), v.value(), "CausalSelfAttention");
    k = Var(kc);
    v = Var(vc);
  }
  // One statement each: the order of a call's arguments is unspecified (GCC evaluates them in
  // another order on aarch64 than on x86), and traces must list ops in the same order everywhere.
  const Var qh = transpose(q, 1, 2), kh = transpose(k, 1, 2), vh = transpose(v, 1, 2);
  Var y = attend(qh, kh, vh, pos0);
  // [B, H, T, D] -> [B, T, H·D]: a view when y is stored [B, T, H, D] (as causal_attention's is).
  y = reshape(transpose(y, 1, 2), {B, T, H * D});
  return resid_drop(c_proj(y));
}

}  // namespace loupe::nn
