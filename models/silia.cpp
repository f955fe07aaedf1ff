// Silia: attention and the SwiGLU feed-forward fused into one operation. Each block computes
// one softmax attention per head and applies it to two value branches, the SwiGLU gate g and
// up v, then gates them: SiLU(A·Wg u) ⊙ (A·Wv u). Equations in silia.h.
//
// One attention, two branches: the fused causal_attention op is run once with the two
// value branches concatenated along the head dim, [Wg u | Wv u] (width 2·dvh); q and k keep
// their own width dh (the op allows a value width unlike the key width). Scores, softmax
// and its backward are computed once for both branches.
#include "models/silia.h"

#include <cmath>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "nn/mlp.h"

namespace loupe::models {

// ------------------------------------------------------------------ the mixing
static Var heads(const Var& x) { return permute(x, {0, 2, 1, 3}); }  // [B, T, H, e] -> [B, H, T, e], a view

Var silia_attend(const Var& u, const Var& c_attn, const Var& c_proj, const SiliaConfig& c, int64_t pos_offset,
                 SiliaLayerCache* cache, AttentionOptions opt) {
  LOUPE_CHECK(u.dim() == 3 && u.size(2) == c.n_embd, "silia: input must be [B, T, ", c.n_embd, "], got ",
              u.value().str());
  const int64_t B = u.size(0), T = u.size(1), d = c.n_embd, H = c.n_head, dh = c.head_dim();
  const int64_t dv = c.value_dim(), dvh = dv / H, nk = c.share_qk ? 0 : d;
  const Var p = nn::linear(u, c_attn);  // [B, T, d + nk + 2 dv]: [q | k | g | v]
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
    LOUPE_CHECK(cache->len == pos_offset, "silia: the cache holds ", cache->len, " tokens, not ", pos_offset);
    auto [kc, gvc] = cache->append(k.value(), gv.value(), "silia");
    k = Var(kc);
    gv = Var(gvc);
  }
  opt.q_offset = cache ? pos_offset : 0;  // without a cache the keys are just these T tokens
  opt.scale = 1.0 / std::sqrt(double(dh));
  // out [B, H, T, 2·dvh] (stored as [B, T, H, 2·dvh]): [A·g | A·v].
  const Var o = transpose(causal_attention(heads(q), heads(k), heads(gv), opt), 1, 2);
  const Var y = silu(narrow(o, 3, 0, dvh)) * narrow(o, 3, dvh, dvh);  // SiLU(g) ⊙ v, [B, T, H, dvh]
  return nn::linear(reshape(y, {B, T, dv}), c_proj);
}

static Var norm_of(const Var& x, const Var& w, const Var& b, const SiliaConfig& c) {
  return c.norm == "rmsnorm" ? rms_norm(x, w, c.norm_eps) : layer_norm(x, w, b, c.norm_eps);
}

Var silia_mix(const Var& x, const SiliaBlockWeights& w, const SiliaConfig& c, int64_t pos_offset,
              SiliaLayerCache* cache) {
  return silia_attend(norm_of(x, w.norm_w, w.norm_b, c), w.c_attn, w.c_proj, c, pos_offset, cache, {});
}

// ------------------------------------------------------------------ modules
namespace {

// The mixing as a module: attn.c_attn (rows [q; k; g; v]) and attn.c_proj (Wo).
class SiliaAttention : public nn::Module {
 public:
  explicit SiliaAttention(const SiliaConfig& c) : cfg(c) {
    const int64_t d = c.n_embd, dv = c.value_dim();
    c_attn = register_module("c_attn", std::make_shared<nn::Linear>(d, (c.share_qk ? 1 : 2) * d + 2 * dv, false, c.dtype));
    c_proj = register_module("c_proj", std::make_shared<nn::Linear>(dv, d, false, c.dtype));
  }
  Var forward(const Var& u, int64_t pos0, SiliaLayerCache* cache) const {
    return silia_attend(u, c_attn->weight, c_proj->weight, cfg, pos0, cache, nn::attention_dropout(is_training(), cfg.dropout));
  }
  SiliaConfig cfg;
  nn::Child<nn::Linear> c_attn, c_proj;
};

// x = x + Dropout(Silia(ln_1(x)));  [separate_ffn: x = x + MLP(ln_2(x))]
class SiliaBlock : public DecoderBlock {
 public:
  explicit SiliaBlock(const SiliaConfig& c) : cfg(c) {
    ln_1 = register_module("ln_1", nn::make_norm(c.norm, c.n_embd, c.norm_bias(), c.norm_eps, c.dtype));
    attn = register_module("attn", std::make_shared<SiliaAttention>(c));
    drop = register_module("drop", std::make_shared<nn::Dropout>(c.dropout));
    if (c.separate_ffn) {
      ln_2 = register_module("ln_2", nn::make_norm(c.norm, c.n_embd, c.norm_bias(), c.norm_eps, c.dtype));
      mlp = register_module("mlp", std::make_shared<nn::MLP>(c.n_embd, 4 * c.n_embd, false, c.dropout, false, c.dtype));
    }
  }
  Var forward(const Var& x_in, const BlockInput& in) override {
    Var x = x_in + drop(attn(ln_1(x_in), in.pos0, static_cast<SiliaLayerCache*>(in.cache)));
    return mlp ? x + mlp(ln_2(x)) : x;
  }
  std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dtype) const override {
    const int64_t H = cfg.n_head, dvh = cfg.value_dim() / H;
    return std::make_unique<SiliaLayerCache>(Tensor::zeros({batch, max_len, H, cfg.head_dim()}, dtype),
                                             Tensor::zeros({batch, max_len, H, 2 * dvh}, dtype));
  }
  SiliaConfig cfg;
  nn::Child<nn::Norm> ln_1, ln_2;
  nn::Child<SiliaAttention> attn;
  nn::Child<nn::Dropout> drop;
  nn::Child<nn::MLP> mlp;  // separate_ffn only
};

}  // namespace

SiliaModel::SiliaModel(const SiliaConfig& c) : ConfiguredDecoder(c, c.spec()) {
  for (int64_t i = 0; i < c.n_layer; ++i) add_block(std::make_shared<SiliaBlock>(c));
  // GPT-2's init with the streams seed, seed + 1, ... in parameter order (as Silia's first runs).
  init_nanogpt(c.seed, c.n_layer, {"c_proj.weight"}, /*by_order=*/true);
}

SiliaBlockWeights SiliaModel::block_weights(int64_t layer) const {
  LOUPE_CHECK(layer >= 0 && layer < cfg_.n_layer, "SiliaModel: no layer ", layer);
  const auto& b = static_cast<const SiliaBlock&>(*block(size_t(layer)));
  auto weight_of = [](const nn::Norm& n, const char* name) {
    for (auto& [k, p] : n.named_parameters())
      if (k == name) return p;
    return Var();
  };
  return {weight_of(*b.ln_1, "weight"), weight_of(*b.ln_1, "bias"), b.attn->c_attn->weight, b.attn->c_proj->weight};
}

namespace {
const ModelRegistrar registrar = ModelRegistrar::of<SiliaModel, SiliaConfig>(
    "silia", "attention in place of the FFN's static matrices (two value branches, SiLU gate)");
}  // namespace

// ------------------------------------------------------------------ the config: keys, checks, spec, parameter count
int64_t SiliaConfig::value_dim() const { return int64_t(std::llround(value_width * double(n_embd))); }

const ConfigKeys<SiliaConfig>& SiliaConfig::keys() {
  using C = SiliaConfig;
  static const auto t = ConfigKeys<C>("silia")
      .decoder_shape()
      .number("value_width", &C::value_width, 1e-3, 1e3, "width of each value branch (g, v) as a multiple of n_embd")
      .boolean("separate_ffn", &C::separate_ffn, "ablation: a GELU MLP after each Silia block")
      .boolean("share_qk", &C::share_qk, "one projection for queries and keys (k = q)")
      .choice("norm", &C::norm, {"layernorm", "rmsnorm"}, "the norm before each block and at the end")
      .choice("pos", &C::pos, {"learned", "rope"}, "positions: learned table (nanoGPT) or RoPE on q, k")
      .number("rope_base", &C::rope_base, 1, 1e12, "RoPE frequency base θ")
      .boolean("bias", &C::bias, "LayerNorm bias (projections have none)")
      .number("norm_eps", &C::norm_eps, 0, 1, "norm epsilon")
      .dropout_seed_dtype("dropout on embeddings, attention probabilities and residual branches");
  return t;
}

void SiliaConfig::resolve(const std::string& model) const {
  check_shape(model, true);
  LOUPE_CHECK(value_dim() > 0 && value_dim() % n_head == 0, model, " config: value_width ", value_width,
              " gives a g/v width ", value_dim(), " that is not a positive multiple of n_head ", n_head);
  LOUPE_CHECK(pos != "rope" || head_dim() % 2 == 0, model, " config: RoPE needs an even head size, got ",
              head_dim());
}

DecoderSpec SiliaConfig::spec() const {
  DecoderSpec s = shape_spec("silia", Naming::NanoGPT);
  s.learned_positions = pos == "learned";
  s.embed_dropout = dropout;
  s.tie_weights = true;
  s.norm = norm;
  s.norm_bias = norm_bias();
  s.norm_eps = norm_eps;
  return s;
}

double SiliaConfig::count_parameters() const {
  const double d = double(n_embd), dv = double(value_dim()), n = double(nn::norm_parameters(norm, n_embd, norm_bias()));
  const double mix = ((share_qk ? 1 : 2) * d + 2 * dv) * d + d * dv;
  return skeleton_parameters(spec()) + double(n_layer) * (n + mix + (separate_ffn ? n + 8 * d * d : 0));
}

}  // namespace loupe::models
