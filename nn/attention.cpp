#include "nn/attention.h"

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "nn/init.h"

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
  resid_drop = register_module("resid_drop", std::make_shared<Dropout>(cfg.dropout, param_seed(cfg.seed, "resid")));
}

KVCache CausalSelfAttention::make_cache(int64_t batch, int64_t max_len, DType dtype) const {
  return KVCache{Tensor::zeros({batch, max_len, n_kv, head_dim}, dtype),
                 Tensor::zeros({batch, max_len, n_kv, head_dim}, dtype), 0};
}

Var CausalSelfAttention::forward(const Var& x, KVCache* cache) {
  LOUPE_CHECK(x.dim() == 3 && x.size(2) == cfg.n_embd, "CausalSelfAttention: input ", x.value().str(),
              " is not [B, T, ", cfg.n_embd, "]");
  const int64_t B = x.size(0), T = x.size(1), H = cfg.n_head, D = head_dim;
  const int64_t pos0 = cache ? cache->len : 0;  // position of the first new token

  // [q | k | v] = c_attn(x), each viewed as [B, T, heads, D] (views of the one projection).
  std::vector<Var> qkv = split(c_attn->forward(x), {H * D, n_kv * D, n_kv * D}, 2);
  Var q = reshape(qkv[0], {B, T, H, D});
  Var k = reshape(qkv[1], {B, T, n_kv, D});
  Var v = reshape(qkv[2], {B, T, n_kv, D});
  if (cfg.rope) {
    q = rope(q, pos0, cfg.rope_base);
    k = rope(k, pos0, cfg.rope_base);
  }

  AttentionOptions opt;
  opt.q_offset = pos0;
  if (is_training() && cfg.dropout > 0) {
    opt.dropout_p = cfg.dropout;
    opt.seed = param_seed(cfg.seed, "attn");
    opt.counter = attn_calls++;
  }
  Var y;
  if (!cache) {
    y = causal_attention(transpose(q, 1, 2), transpose(k, 1, 2), transpose(v, 1, 2), opt);
  } else {
    // Append the new keys/values, then attend over everything cached (no gradient flows into the cache).
    LOUPE_CHECK(cache->k.size(0) == B && pos0 + T <= cache->k.size(1), "CausalSelfAttention: cache for batch ",
                cache->k.size(0), " and ", cache->k.size(1), " positions cannot take ", T, " more tokens after ", pos0,
                " (batch ", B, ")");
    cache->k.narrow(1, pos0, T).copy_(k.value());
    cache->v.narrow(1, pos0, T).copy_(v.value());
    cache->len = pos0 + T;
    Var kc(cache->k.narrow(1, 0, cache->len).permute({0, 2, 1, 3}));
    Var vc(cache->v.narrow(1, 0, cache->len).permute({0, 2, 1, 3}));
    y = causal_attention(transpose(q, 1, 2), kc, vc, opt);
  }
  // [B, H, T, D] -> [B, T, H·D]: the op's output is stored [B, T, H, D], so this is a view.
  y = reshape(transpose(y, 1, 2), {B, T, H * D});
  return resid_drop->forward(c_proj->forward(y));
}

}  // namespace loupe::nn
