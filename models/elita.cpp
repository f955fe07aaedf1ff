// ELiTA (shared/specs/elita.md): Attention2 (O(n) cumulative-sum softmax with scalar keys,
// queries and Fourier-like positions) and FeedForward2 (an einsum over two small SiLU inputs),
// with the author's recurrent wrapping and logits feed-forward as options. Equations in elita.h.
#include "models/elita.h"

#include <cmath>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "autograd/ops/elita_attention.h"
#include "models/config_reader.h"

namespace loupe::models {

// ------------------------------------------------------------------ config
ElitaConfig ElitaConfig::from_json(const nlohmann::json& j) {
  ConfigReader r(j, "elita");
  ElitaConfig c;
  c.vocab_size = r.integer("vocab_size", 0, 1);
  LOUPE_CHECK(c.vocab_size > 0, "elita config: \"vocab_size\" is required");
  c.block_size = r.integer("block_size", c.block_size, 1);
  c.n_layer = r.integer("n_layer", c.n_layer, 1);
  c.n_head = r.integer("n_head", c.n_head, 1);
  c.n_embd = r.integer("n_embd", c.n_embd, 1);
  c.head_width = r.integer("head_width", c.head_width, 1);
  c.pos_width = r.integer("pos_width", c.pos_width, 1);
  c.ff_scale = r.integer("ff_scale", c.ff_scale, 1);
  c.wraps = r.integer("wraps", c.wraps, 1);
  c.logits_ffn_hidden = r.integer("logits_ffn_hidden", c.logits_ffn_hidden, 0);
  c.norm_eps = r.number("norm_eps", c.norm_eps, 0.0, 1.0);
  c.dropout = r.number("dropout", c.dropout, 0.0, 0.99);
  c.init_seed = uint64_t(r.integer("seed", int64_t(c.init_seed), 0));
  c.dtype = r.choice("dtype", "f32", {"f32", "f64"}) == "f64" ? DType::F64 : DType::F32;
  r.finish();
  return c;
}

nlohmann::json ElitaConfig::to_json() const {
  return {{"type", "elita"},         {"vocab_size", vocab_size}, {"block_size", block_size},
          {"n_layer", n_layer},      {"n_head", n_head},         {"n_embd", n_embd},
          {"head_width", head_width}, {"pos_width", pos_width},  {"ff_scale", ff_scale},
          {"wraps", wraps},          {"logits_ffn_hidden", logits_ffn_hidden}, {"norm_eps", norm_eps},
          {"dropout", dropout},      {"seed", init_seed},         {"dtype", dtype == DType::F64 ? "f64" : "f32"}};
}

// ------------------------------------------------------------------ the blocks
static Var linear(const Var& x, const Var& w) { return matmul(x, transpose(w, 0, 1)); }  // x Wᵀ, W [out, in]

Var elita_norm(const Var& x, double eps) {
  // Layer norm with unit gain and no bias: the gain is a constant, so it gets no gradient.
  return layer_norm(x, Var(Tensor::ones({x.size(-1)}, x.dtype())), Var(), eps);
}

// Σ_k c[h,k] · sin(p_t · a[h,k] + b[h,k]) for positions p_t = (pos_offset + t) / n: [T, H].
static Var position_logits(const Var& a, const Var& b, const Var& c, int64_t pos_offset, int64_t T, int64_t n,
                           DType dt) {
  std::vector<double> p(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) p[size_t(t)] = double(pos_offset + t) / double(n);
  const Var pos(Tensor::from_vector(p, {T, 1, 1}, dt));
  return sum(sin(pos * unsqueeze(a, 0) + unsqueeze(b, 0)) * unsqueeze(c, 0), {2});
}

Var elita_attention2(const Var& x, const ElitaAttentionWeights& w, const ElitaConfig& c, int64_t pos_offset,
                     ElitaState* state) {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2), H = c.n_head, d3 = c.head_width;
  // Scalar logits of every head: [B, T, 3, H] = x · [k1; k2; k3]ᵀ.
  const Var k = reshape(linear(x, reshape(w.keys, {3 * H, d})), {B, T, 3, H});
  const Var p1 = position_logits(w.a1, w.b1, w.c, pos_offset, T, c.block_size, x.dtype());  // [T, H]
  const Var p2 = position_logits(w.a2, w.b2, w.c, pos_offset, T, c.block_size, x.dtype());
  const Var a = select(k, 2, 0) + p1;  // key side:   k1·x_j + c·p1_j
  const Var dg = select(k, 2, 1);      // diagonal:   k2·x_i
  const Var g = select(k, 2, 2) + p2;  // query side: c·p2_i + k3·x_i
  const Var v = reshape(linear(x, w.value), {B, T, H, d3});
  Var y;
  if (state) {
    // Generation: continue the running sums (no graph; generation runs under NoGrad).
    y = Var(elita_attention_forward(a.value(), g.value(), dg.value(), v.value(), state).y);
  } else {
    y = elita_attention(a, g, dg, v);
  }
  return linear(reshape(y, {B, T, H * d3}), w.proj);
}

Var elita_feedforward2(const Var& x, const ElitaFeedForwardWeights& w) {
  const int64_t d = x.size(-1);
  Shape rows = x.shape();
  rows.pop_back();
  const int64_t n = x.numel() / d;
  const Var u = reshape(silu(linear(x, w.w1) + w.b1), {n, d});              // [n, d]
  const Var s = reshape(silu(linear(x, w.w2) + w.b2), {n, w.w2.size(0)});  // [n, scale]
  Var y = einsum("bi,bj,ijk->bk", {u, s, w.w3}) + w.b3;                    // [n, d]
  rows.push_back(d);
  return reshape(y, rows);
}

// ------------------------------------------------------------------ the model
namespace {
// A Module node whose parameters and children are added from outside (names only).
struct ElitaNode : nn::Module {
  Var param(const std::string& name, Tensor t) { return register_parameter(name, std::move(t)); }
  std::shared_ptr<ElitaNode> child(const std::string& name) {
    return register_module(name, std::make_shared<ElitaNode>());
  }
};

struct ElitaDecodeCache : DecodeCache {
  std::vector<ElitaState> states;  // one per (wrap, layer)
  int64_t batch = 0, len = 0;
  int64_t bytes() const override {
    int64_t n = 0;
    for (auto& s : states) n += s.bytes();
    return n;
  }
  int64_t length() const override { return len; }
};
}  // namespace

ElitaModel::ElitaModel(const ElitaConfig& c) : ConfiguredModel(c) {
  const int64_t d = c.n_embd, H = c.n_head, d2 = c.pos_width, d3 = c.head_width, s = c.ff_scale;
  uint64_t seed = c.init_seed;
  auto uniform = [&](Shape sh, double lim) { return Tensor::uniform(sh, -lim, lim, seed++, c.dtype); };
  // Glorot-uniform (the author's Keras initialiser): limit √(6 / (fan_in + fan_out)).
  auto glorot = [&](Shape sh, int64_t fan_in, int64_t fan_out) {
    return uniform(sh, std::sqrt(6.0 / double(fan_in + fan_out)));
  };
  auto root = std::make_shared<ElitaNode>();
  register_module("transformer", root);
  wte_ = root->child("wte")->param("weight", Tensor::normal({c.vocab_size, d}, 0.0, 0.02, seed++, c.dtype));
  if (c.wraps > 1) wrap_bias_ = root->param("wrap_bias", Tensor::zeros({c.wraps, d}, c.dtype));
  auto h = root->child("h");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    auto blk = h->child(std::to_string(i));
    auto at = blk->child("attn");
    ElitaAttentionWeights aw;
    aw.keys = at->param("keys", uniform({3, H, d}, 0.05));  // Keras random_uniform(−0.05, 0.05)
    aw.a1 = at->param("a1", uniform({H, d2}, 0.05));
    aw.b1 = at->param("b1", uniform({H, d2}, 0.05));
    aw.a2 = at->param("a2", uniform({H, d2}, 0.05));
    aw.b2 = at->param("b2", uniform({H, d2}, 0.05));
    aw.c = at->param("c", uniform({H, d2}, 0.05));
    aw.value = at->child("value")->param("weight", glorot({H * d3, d}, d, d3));
    aw.proj = at->child("proj")->param("weight", glorot({d, H * d3}, d3, d));
    attn_.push_back(aw);
    auto ff = blk->child("ff");
    ElitaFeedForwardWeights fw;
    fw.w1 = ff->param("w1", glorot({d, d}, d, d));
    fw.b1 = ff->param("b1", Tensor::zeros({d}, c.dtype));
    fw.w2 = ff->param("w2", glorot({s, d}, d, s));
    fw.b2 = ff->param("b2", Tensor::zeros({s}, c.dtype));
    fw.w3 = ff->param("w3", glorot({d, s, d}, d * s, d));
    fw.b3 = ff->param("b3", Tensor::zeros({d}, c.dtype));
    ff_.push_back(fw);
  }
  if (c.logits_ffn_hidden > 0) {
    const int64_t V = c.vocab_size, Hl = c.logits_ffn_hidden;
    auto lf = register_module("logits_ffn", std::make_shared<ElitaNode>());
    lf_wa_ = lf->param("wa", glorot({Hl, V}, V, Hl));
    lf_ba_ = lf->param("ba", Tensor::zeros({Hl}, c.dtype));
    lf_wb_ = lf->param("wb", glorot({V, Hl}, Hl, V));
    lf_bb_ = lf->param("bb", Tensor::zeros({V}, c.dtype));
  }
}

Var ElitaModel::run(const Tensor& ids, int64_t pos_offset, std::vector<ElitaState>* states) {
  const ElitaConfig& c = cfg_;
  LOUPE_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.dim() == 2, "elita: ids must be i64 [B, T], got ",
              ids.defined() ? ids.str() : "undefined");
  LOUPE_CHECK(states || ids.size(1) <= c.block_size, "elita: ", ids.size(1), " tokens exceed block_size ",
              c.block_size);
  const bool drop = is_training() && c.dropout > 0 && !states;
  uint64_t counter = forward_count_ * uint64_t(2 * c.n_layer * c.wraps + 1);  // one stream per site and step
  auto dropout_if = [&](const Var& v) { return drop ? dropout(v, c.dropout, c.init_seed, counter++) : v; };

  Var x = embedding(wte_, ids);  // [B, T, d]
  for (int64_t r = 0; r < c.wraps; ++r) {
    if (c.wraps > 1) x = x + select(wrap_bias_, 0, r);  // which step of the wrapping we are on
    for (int64_t i = 0; i < c.n_layer; ++i) {
      ElitaState* st = states ? &(*states)[size_t(r * c.n_layer + i)] : nullptr;
      x = x + dropout_if(elita_attention2(elita_norm(x, c.norm_eps), attn_[size_t(i)], c, pos_offset, st));
      x = x + dropout_if(elita_feedforward2(elita_norm(x, c.norm_eps), ff_[size_t(i)]));
    }
  }
  Var logits = linear(elita_norm(x, c.norm_eps), wte_);  // [B, T, V], tied head
  if (c.logits_ffn_hidden > 0) logits = linear(silu(linear(logits, lf_wa_) + lf_ba_), lf_wb_) + lf_bb_;
  return logits;
}

Var ElitaModel::forward(const Tensor& ids) {
  if (is_training()) ++forward_count_;
  return run(ids, 0, nullptr);
}

std::unique_ptr<DecodeCache> ElitaModel::make_cache(int64_t batch, int64_t max_len) const {
  LOUPE_CHECK(batch > 0 && max_len > 0, "elita make_cache: need batch > 0 and max_len > 0, got batch ", batch,
              ", max_len ", max_len);
  auto cache = std::make_unique<ElitaDecodeCache>();
  cache->batch = batch;
  for (int64_t i = 0; i < cfg_.wraps * cfg_.n_layer; ++i)
    cache->states.push_back(ElitaState::empty(batch, cfg_.n_head, cfg_.head_width, cfg_.dtype));
  return cache;
}

Var ElitaModel::forward_cached(const Tensor& ids, DecodeCache& cache) {
  auto* ec = dynamic_cast<ElitaDecodeCache*>(&cache);
  LOUPE_CHECK(ec, "elita forward_cached: the cache was not made by an ELiTA model");
  LOUPE_CHECK(ids.dim() == 2 && ids.size(0) == ec->batch, "elita forward_cached: ids ", ids.str(),
              " do not match the cache batch ", ec->batch);
  NoGrad ng;  // the running sums are state, not a graph
  Var logits = run(ids, ec->len, &ec->states);
  ec->len += ids.size(1);
  return logits;
}

static ModelRegistrar elita_registrar("elita", [](const nlohmann::json& j) -> std::shared_ptr<LanguageModel> {
  return std::make_shared<ElitaModel>(ElitaConfig::from_json(j));
});

}  // namespace loupe::models
