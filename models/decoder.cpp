#include "models/decoder.h"

#include <cmath>
#include <optional>

#include "autograd/ops.h"
#include "nn/init.h"

namespace loupe::models {

DecoderSpec DecoderShape::shape_spec(const std::string& type, Naming naming) const {
  DecoderSpec s;
  s.type = type;
  s.naming = naming;
  s.vocab_size = vocab_size;
  s.block_size = block_size;
  s.n_embd = n_embd;
  s.dtype = dtype;
  return s;
}

void DecoderShape::check_shape(const std::string& model, bool heads_split_width) const {
  LOUPE_CHECK(vocab_size > 0, model, " config: \"vocab_size\" is required");
  LOUPE_CHECK(!heads_split_width || n_embd % n_head == 0, model, " config: n_embd ", n_embd,
              " must be a multiple of n_head ", n_head);
}

int64_t DecoderCache::bytes() const {
  int64_t n = 0;
  for (auto& l : layers) n += l ? l->bytes() : 0;
  return n;
}

PreNormBlock::PreNormBlock(const BlockNames& n, std::shared_ptr<nn::Norm> n1, std::shared_ptr<nn::CausalSelfAttention> a,
                           std::shared_ptr<nn::Norm> n2, std::shared_ptr<nn::FeedForward> f) {
  if (a) {
    norm_1 = register_module(n.norm_1, std::move(n1));
    attn = register_module(n.attn, std::move(a));
  }
  norm_2 = register_module(n.norm_2, std::move(n2));
  ffn = register_module(n.ffn, std::move(f));
}

Var PreNormBlock::forward(const Var& x_in, const BlockInput& in) {
  Var x = x_in;
  if (attn) x = x + attn(norm_1(x), static_cast<nn::KVCache*>(in.cache));
  return x + ffn(norm_2(x));
}

std::unique_ptr<nn::LayerCache> PreNormBlock::make_cache(int64_t batch, int64_t max_len, DType dtype) const {
  return attn ? attn->make_cache(batch, max_len, dtype) : nullptr;
}

Decoder::Decoder(const DecoderSpec& s) : spec_(s) {
  LOUPE_CHECK(s.vocab_size > 0 && s.block_size > 0 && s.n_embd > 0, s.type, ": vocab_size, block_size and n_embd must be positive");
  const int64_t V = s.vocab_size, d = s.n_embd;
  auto norm = nn::make_norm(s.norm, d, s.norm_bias, s.norm_eps, s.dtype);
  auto list = std::make_shared<nn::ModuleList<DecoderBlock>>();
  if (s.naming == Naming::NanoGPT) {
    transformer_ = register_module("transformer", std::make_shared<nn::ModuleDict>());
    auto& t = *transformer_;
    wte = t.register_module("wte", std::make_shared<nn::Embedding>(V, d, s.dtype));
    if (s.learned_positions) wpe = t.register_module("wpe", std::make_shared<nn::Embedding>(s.block_size, d, s.dtype));
    drop = t.register_module("drop", std::make_shared<nn::Dropout>(s.embed_dropout));
    blocks_ = t.register_module("h", list);
    norm_f = t.register_module("ln_f", norm);
    if (!s.tie_weights) lm_head = register_module("lm_head", std::make_shared<nn::Linear>(d, V, false, s.dtype));
  } else {
    LOUPE_CHECK(!s.learned_positions && s.embed_dropout == 0, s.type, ": Meta naming has no wpe or embedding dropout");
    wte = register_module("tok_embeddings", std::make_shared<nn::Embedding>(V, d, s.dtype));
    blocks_ = register_module("layers", list);
    norm_f = register_module("norm", norm);
    if (!s.tie_weights) lm_head = register_module("output", std::make_shared<nn::Linear>(d, V, false, s.dtype));
  }
}

double skeleton_parameters(const DecoderSpec& s) {
  const double V = double(s.vocab_size), d = double(s.n_embd);
  return V * d * (s.tie_weights ? 1 : 2) + (s.learned_positions ? double(s.block_size) * d : 0) +
         double(nn::norm_parameters(s.norm, s.n_embd, s.norm_bias));
}

void Decoder::init_nanogpt(uint64_t seed, int64_t n_layer, const std::vector<std::string>& residual, bool by_order) {
  const double std0 = 0.02, std_res = 0.02 / std::sqrt(2.0 * double(n_layer));
  uint64_t index = 0;
  for (auto& [name, p] : named_parameters()) {
    if (p.dim() < 2) continue;  // norm gains stay 1, biases 0
    bool res = false;
    for (auto& r : residual) res = res || name.ends_with(r);
    const double sd = res ? std_res : std0;
    if (by_order) p.mutable_value().copy_(Tensor::normal(p.shape(), 0.0, sd, seed + index++, p.dtype()));
    else nn::init_normal_(p, sd, seed, name);
  }
}

Var Decoder::embed(const Tensor& ids, int64_t pos0) {
  Var x = wte(ids);  // [B, T, d]
  if (wpe) {
    Var rows;  // wpe[pos0 .. pos0+T), read inside wpe's scope so traces name it
    {
      ModuleScope in_wpe(wpe.ptr().get(), wpe.call_path());
      rows = narrow(wpe->weight, 0, pos0, ids.size(1));
    }
    x = x + rows;  // + [T, d], broadcast over the batch
  }
  return drop ? drop(x) : x;
}

Var Decoder::head(const Var& x) {
  const Var h = norm_f(x);
  return lm_head ? lm_head(h) : matmul(h, transpose(wte->weight, 0, 1));  // tied: h · wteᵀ
}

Var Decoder::trunk(const Tensor& ids, DecoderCache* cache) {
  LOUPE_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.dim() == 2, spec_.type, ": ids must be i64 [B, T], got ",
              ids.defined() ? ids.str() : "undefined");
  const int64_t T = ids.size(1), pos0 = cache ? cache->len : 0;
  if (!cache || spec_.learned_positions)
    LOUPE_CHECK(pos0 + T <= spec_.block_size, spec_.type, ": sequence of ", pos0 + T, " tokens exceeds block_size ",
                spec_.block_size);
  if (cache)
    LOUPE_CHECK(ids.size(0) == cache->batch && pos0 + T <= cache->max_len, spec_.type, ": ", T,
                " more tokens of batch ", ids.size(0), " do not fit a cache of batch ", cache->batch, " and ",
                cache->max_len, " positions holding ", pos0);
  std::vector<Var> history;  // the input of every layer (GCLA-style blocks read the earlier ones)
  Var x = embed(ids, pos0);
  for (size_t l = 0; l < blocks_->size(); ++l) {
    x = before_layer(x, int64_t(l));
    history.push_back(x);
    BlockInput in{int64_t(l), pos0, cache ? cache->layers[l].get() : nullptr, &history};
    x = (*blocks_)[l](x, in);
  }
  if (cache) cache->len = pos0 + T;
  return x;
}

Var Decoder::loss(const Tensor& ids, const Tensor& targets) {
  if (!fused_head()) return LanguageModel::loss(ids, targets);
  const Var h = norm_f(trunk(ids, nullptr));
  std::optional<ModuleScope> in_head;  // untied: traces name the head's module
  if (lm_head) in_head.emplace(lm_head.ptr().get(), lm_head.call_path());
  return linear_cross_entropy(reshape(h, {-1, h.size(-1)}), lm_head ? lm_head->weight : wte->weight,  // tied: wte
                              targets.reshape({-1}));
}

std::unique_ptr<DecodeCache> Decoder::make_cache(int64_t batch, int64_t max_len) const {
  LOUPE_CHECK(batch >= 1 && max_len >= 1, spec_.type, ": a cache needs batch >= 1 and max_len >= 1, got ", batch,
              " and ", max_len);
  LOUPE_CHECK(!spec_.learned_positions || max_len <= spec_.block_size, spec_.type, ": cache length ", max_len,
              " exceeds block_size ", spec_.block_size, " (learned positions)");
  auto c = std::make_unique<DecoderCache>();
  c->batch = batch;
  c->max_len = max_len;
  c->owner = this;
  for (auto& b : *blocks_) c->layers.push_back(b->make_cache(batch, max_len, spec_.dtype));
  return c;
}

Var Decoder::forward_cached(const Tensor& ids, DecodeCache& cache) {
  auto* c = dynamic_cast<DecoderCache*>(&cache);
  LOUPE_CHECK(c && c->owner == this && c->layers.size() == blocks_->size(), spec_.type, ": forward_cached got a cache made by another model");
  return head(trunk(ids, c));
}

}  // namespace loupe::models
