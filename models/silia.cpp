// Silia (shared/specs/silia.md): attention and the SwiGLU feed-forward fused into one
// operation. Each block computes one softmax attention per head and applies it to two
// value branches, the SwiGLU gate g and up v, then gates them: SiLU(A·Wg u) ⊙ (A·Wv u).
//
// One attention, two branches: the fused causal_attention op is run once with the two
// value branches concatenated along the head dim, [Wg u | Wv u] (width 2·dvh); q and k keep
// their own width dh (the op allows a value width unlike the key width). Scores, softmax
// and its backward are computed once for both branches.
#include "models/silia.h"

#include <cmath>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/config_reader.h"

namespace loupe::models {

// ------------------------------------------------------------------ config
int64_t SiliaConfig::value_dim() const { return int64_t(std::llround(value_width * double(n_embd))); }

SiliaConfig SiliaConfig::from_json(const nlohmann::json& j) {
  ConfigReader r(j, "silia");
  SiliaConfig c;
  c.vocab_size = r.integer("vocab_size", 0, 1);
  LOUPE_CHECK(c.vocab_size > 0, "silia config: \"vocab_size\" is required");
  c.block_size = r.integer("block_size", c.block_size, 1);
  c.n_layer = r.integer("n_layer", c.n_layer, 1);
  c.n_head = r.integer("n_head", c.n_head, 1);
  c.n_embd = r.integer("n_embd", c.n_embd, 1);
  c.value_width = r.number("value_width", c.value_width, 1e-3, 1e3);
  c.separate_ffn = r.boolean("separate_ffn", c.separate_ffn);
  c.share_qk = r.boolean("share_qk", c.share_qk);
  c.norm = r.choice("norm", c.norm, {"layernorm", "rmsnorm"});
  c.pos = r.choice("pos", c.pos, {"learned", "rope"});
  c.rope_base = r.number("rope_base", c.rope_base, 1.0, 1e12);
  c.bias = r.boolean("bias", c.bias);
  c.norm_eps = r.number("norm_eps", c.norm_eps, 0.0, 1.0);
  c.dropout = r.number("dropout", c.dropout, 0.0, 0.99);
  c.init_seed = uint64_t(r.integer("seed", int64_t(c.init_seed), 0));
  c.dtype = r.choice("dtype", "f32", {"f32", "f64"}) == "f64" ? DType::F64 : DType::F32;
  r.finish();
  LOUPE_CHECK(c.n_embd % c.n_head == 0, "silia config: n_embd ", c.n_embd, " is not a multiple of n_head ", c.n_head);
  LOUPE_CHECK(c.value_dim() > 0 && c.value_dim() % c.n_head == 0, "silia config: value_width ", c.value_width,
              " gives a g/v width ", c.value_dim(), " that is not a positive multiple of n_head ", c.n_head);
  LOUPE_CHECK(c.pos != "rope" || c.head_dim() % 2 == 0, "silia config: RoPE needs an even head size, got ",
              c.head_dim());
  return c;
}

nlohmann::json SiliaConfig::to_json() const {
  return {{"type", "silia"},          {"vocab_size", vocab_size}, {"block_size", block_size},
          {"n_layer", n_layer},       {"n_head", n_head},         {"n_embd", n_embd},
          {"value_width", value_width}, {"separate_ffn", separate_ffn}, {"share_qk", share_qk},
          {"norm", norm},             {"pos", pos},               {"rope_base", rope_base},
          {"bias", bias},             {"norm_eps", norm_eps},     {"dropout", dropout},
          {"seed", init_seed},        {"dtype", dtype == DType::F64 ? "f64" : "f32"}};
}

// ------------------------------------------------------------------ the block
static Var norm(const Var& x, const Var& w, const Var& b, const SiliaConfig& c) {
  return c.norm == "rmsnorm" ? rms_norm(x, w, c.norm_eps) : layer_norm(x, w, b, c.norm_eps);
}
static Var linear(const Var& x, const Var& w) { return matmul(x, transpose(w, 0, 1)); }  // x Wᵀ, W [out, in]

static Var heads(const Var& x) { return permute(x, {0, 2, 1, 3}); }  // [B, T, H, e] -> [B, H, T, e], a view

Var silia_mix(const Var& x, const SiliaBlockWeights& w, const SiliaConfig& c, int64_t pos_offset,
              SiliaLayerCache* cache, double dropout_p, uint64_t dropout_counter) {
  LOUPE_CHECK(x.dim() == 3 && x.size(2) == c.n_embd, "silia_mix: x must be [B, T, ", c.n_embd, "], got ",
              x.value().str());
  const int64_t B = x.size(0), T = x.size(1), d = c.n_embd, H = c.n_head, dh = c.head_dim();
  const int64_t dv = c.value_dim(), dvh = dv / H, nk = c.share_qk ? 0 : d;
  const Var u = norm(x, w.norm_w, w.norm_b, c);
  const Var p = linear(u, w.c_attn);  // [B, T, d + nk + 2 dv]: [q | k | g | v]
  Var q = reshape(narrow(p, 2, 0, d), {B, T, H, dh});
  Var k = c.share_qk ? q : reshape(narrow(p, 2, d, d), {B, T, H, dh});
  // Per head [g_h | v_h]: the two branches share every attention weight.
  Var gv = concat({reshape(narrow(p, 2, d + nk, dv), {B, T, H, dvh}),
                   reshape(narrow(p, 2, d + nk + dv, dv), {B, T, H, dvh})},
                  3);
  if (c.pos == "rope") {
    q = rope(q, pos_offset, c.rope_base);
    k = c.share_qk ? q : rope(k, pos_offset, c.rope_base);
  }
  if (cache) {  // decoding: append this step's k and [g|v], attend over the whole prefix
    LOUPE_CHECK(pos_offset + T <= cache->k.size(1), "silia_mix: cache of ", cache->k.size(1), " tokens cannot hold ",
                pos_offset + T);
    cache->k.narrow(1, pos_offset, T).copy_(k.value());
    cache->gv.narrow(1, pos_offset, T).copy_(gv.value());
    k = Var(cache->k.narrow(1, 0, pos_offset + T));
    gv = Var(cache->gv.narrow(1, 0, pos_offset + T));
  }
  AttentionOptions opt;
  opt.q_offset = cache ? pos_offset : 0;  // without a cache the keys are just these T tokens
  opt.scale = 1.0 / std::sqrt(double(dh));
  opt.dropout_p = dropout_p;
  opt.seed = c.init_seed;
  opt.counter = dropout_counter;
  // out [B, H, T, 2·dvh] (stored as [B, T, H, 2·dvh]): [A·g | A·v].
  const Var o = transpose(causal_attention(heads(q), heads(k), heads(gv), opt), 1, 2);
  const Var y = silu(narrow(o, 3, 0, dvh)) * narrow(o, 3, dvh, dvh);  // SiLU(g) ⊙ v, [B, T, H, dvh]
  return linear(reshape(y, {B, T, dv}), w.c_proj);
}

// ------------------------------------------------------------------ the model
namespace {
// A Module node whose parameters and children are added from outside (names only).
struct ParamNode : nn::Module {
  Var param(const std::string& name, Tensor t) { return register_parameter(name, std::move(t)); }
  std::shared_ptr<ParamNode> child(const std::string& name) { return register_module(name, std::make_shared<ParamNode>()); }
};

struct SiliaDecodeCache : DecodeCache {
  std::vector<SiliaLayerCache> layers;
  int64_t batch = 0, max_len = 0, len = 0;
  int64_t bytes() const override {
    int64_t n = 0;
    for (auto& l : layers) n += (l.k.numel() + l.gv.numel()) * int64_t(dtype_size(l.k.dtype()));
    return n;
  }
  int64_t length() const override { return len; }
};
}  // namespace

SiliaModel::SiliaModel(const SiliaConfig& c) : ConfiguredModel(c) {
  const int64_t d = c.n_embd, dv = c.value_dim(), nqkv = (c.share_qk ? 1 : 2) * d + 2 * dv;
  const double std0 = 0.02, std_out = 0.02 / std::sqrt(2.0 * double(c.n_layer));  // GPT-2 residual scaling
  uint64_t seed = c.init_seed;
  auto normal = [&](Shape s, double sd) { return Tensor::normal(s, 0.0, sd, seed++, c.dtype); };
  auto root = std::make_shared<ParamNode>();
  register_module("transformer", root);
  wte_ = root->child("wte")->param("weight", normal({c.vocab_size, d}, std0));
  if (c.pos == "learned") wpe_ = root->child("wpe")->param("weight", normal({c.block_size, d}, std0));
  auto add_norm = [&](ParamNode& parent, const char* name, Var& w, Var& b) {
    auto n = parent.child(name);
    w = n->param("weight", Tensor::ones({d}, c.dtype));
    if (c.norm == "layernorm" && c.bias) b = n->param("bias", Tensor::zeros({d}, c.dtype));
  };
  auto h = root->child("h");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    auto blk = h->child(std::to_string(i));
    SiliaBlockWeights w;
    add_norm(*blk, "ln_1", w.norm_w, w.norm_b);
    auto attn = blk->child("attn");
    w.c_attn = attn->child("c_attn")->param("weight", normal({nqkv, d}, std0));
    w.c_proj = attn->child("c_proj")->param("weight", normal({d, dv}, std_out));
    blocks_.push_back(w);
    if (c.separate_ffn) {
      Ffn f;
      add_norm(*blk, "ln_2", f.norm_w, f.norm_b);
      auto mlp = blk->child("mlp");
      f.c_fc = mlp->child("c_fc")->param("weight", normal({4 * d, d}, std0));
      f.c_proj = mlp->child("c_proj")->param("weight", normal({d, 4 * d}, std_out));
      ffns_.push_back(f);
    }
  }
  add_norm(*root, "ln_f", lnf_w_, lnf_b_);
  // The output head is tied to wte (logits = LNf(x) · Wteᵀ): no separate parameter.
}

const SiliaBlockWeights& SiliaModel::block_weights(int64_t layer) const {
  LOUPE_CHECK(layer >= 0 && layer < cfg_.n_layer, "SiliaModel: no layer ", layer);
  return blocks_[size_t(layer)];
}

Var SiliaModel::run(const Tensor& ids, int64_t pos_offset, std::vector<SiliaLayerCache>* caches) {
  const SiliaConfig& c = cfg_;
  LOUPE_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.dim() == 2, "silia: ids must be i64 [B, T], got ",
              ids.defined() ? ids.str() : "undefined");
  const int64_t T = ids.size(1);
  LOUPE_CHECK(pos_offset + T <= c.block_size, "silia: ", pos_offset + T, " tokens exceed block_size ", c.block_size);
  const bool drop = is_training() && c.dropout > 0 && !caches;
  const double p = drop ? c.dropout : 0.0;
  uint64_t counter = forward_count_ * uint64_t(4 * c.n_layer + 2);  // one dropout stream per site and step
  auto dropout_if = [&](const Var& v) { return drop ? dropout(v, p, c.init_seed, counter++) : v; };

  Var x = embedding(wte_, ids);  // [B, T, d]
  if (wpe_.defined()) {
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = pos_offset + t;
    x = x + embedding(wpe_, Tensor::from_ints(pos, {T}));  // broadcast over the batch
  }
  x = dropout_if(x);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    SiliaLayerCache* lc = caches ? &(*caches)[size_t(i)] : nullptr;
    x = x + dropout_if(silia_mix(x, blocks_[size_t(i)], c, pos_offset, lc, p, counter++));
    if (c.separate_ffn) {
      const Ffn& f = ffns_[size_t(i)];
      x = x + dropout_if(linear(gelu(linear(norm(x, f.norm_w, f.norm_b, c), f.c_fc)), f.c_proj));
    }
  }
  return linear(norm(x, lnf_w_, lnf_b_, c), wte_);  // [B, T, V]
}

Var SiliaModel::forward(const Tensor& ids) {
  if (is_training()) ++forward_count_;
  return run(ids, 0, nullptr);
}

std::unique_ptr<DecodeCache> SiliaModel::make_cache(int64_t batch, int64_t max_len) const {
  LOUPE_CHECK(batch > 0 && max_len > 0 && max_len <= cfg_.block_size, "silia make_cache: need batch > 0 and 0 < max_len <= ",
              cfg_.block_size, ", got batch ", batch, ", max_len ", max_len);
  auto cache = std::make_unique<SiliaDecodeCache>();
  cache->batch = batch, cache->max_len = max_len;
  const int64_t H = cfg_.n_head, dvh = cfg_.value_dim() / H;
  for (int64_t i = 0; i < cfg_.n_layer; ++i)
    cache->layers.push_back({Tensor::zeros({batch, max_len, H, cfg_.head_dim()}, cfg_.dtype),
                             Tensor::zeros({batch, max_len, H, 2 * dvh}, cfg_.dtype)});
  return cache;
}

Var SiliaModel::forward_cached(const Tensor& ids, DecodeCache& cache) {
  auto* sc = dynamic_cast<SiliaDecodeCache*>(&cache);
  LOUPE_CHECK(sc, "silia forward_cached: the cache was not made by a Silia model");
  LOUPE_CHECK(ids.dim() == 2 && ids.size(0) == sc->batch, "silia forward_cached: ids ", ids.str(),
              " do not match the cache batch ", sc->batch);
  LOUPE_CHECK(sc->len + ids.size(1) <= sc->max_len, "silia forward_cached: ", sc->len, " cached + ", ids.size(1),
              " new tokens exceed the cache length ", sc->max_len);
  Var logits = run(ids, sc->len, &sc->layers);
  sc->len += ids.size(1);
  return logits;
}

static ModelRegistrar silia_registrar("silia", [](const nlohmann::json& j) -> std::shared_ptr<LanguageModel> {
  return std::make_shared<SiliaModel>(SiliaConfig::from_json(j));
});

}  // namespace loupe::models
