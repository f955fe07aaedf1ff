// ELiTA (docs/models/elita.md): Attention2 (O(n) cumulative-sum softmax with scalar keys,
// queries and Fourier-like positions) and FeedForward2 (an einsum over two small SiLU inputs),
// with the author's recurrent wrapping and logits feed-forward as options. Equations in elita.h.
#include "models/elita.h"

#include <cmath>

#include "autograd/attention_probe.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "autograd/ops/elita_attention.h"
#include "nn/linear.h"

namespace loupe::models {

// ------------------------------------------------------------------ the blocks
using nn::linear;

Var elita_norm(const Var& x, double eps) {
  // Layer norm with unit gain and no bias: the gain is a constant, so it gets no gradient.
  return layer_norm(x, Var(Tensor::ones({x.size(-1)}, x.dtype())), Var(), eps);
}

// Σ_k c[h,k] · sin(p_t · a[h,k] + b[h,k]) for positions p_t = (pos_offset + t) / n: [T, H]
// (n = block_size, or block_size − 1 with pos_scale "n-1").
static Var position_logits(const Var& a, const Var& b, const Var& c, int64_t pos_offset, int64_t T, double n,
                           DType dt) {
  std::vector<double> p(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) p[size_t(t)] = double(pos_offset + t) / n;
  const Var pos(Tensor::from_vector(p, {T, 1, 1}, dt));
  return sum(sin(pos * unsqueeze(a, 0) + unsqueeze(b, 0)) * unsqueeze(c, 0), {2});
}

// The matrix Attention2 amounts to, for pictures (autograd/attention_probe.h): row i is the
// softmax over {d_i} ∪ {g_i + a_j : j ≤ i}, with d_i's weight added to token i's (its value is
// V x_i too). a, g, dg: [B, T, H].
static void report_elita_attention(const Tensor& a, const Tensor& g, const Tensor& dg) {
  const int64_t B = a.size(0), T = a.size(1), H = a.size(2);
  const Tensor A = a.to(DType::F64).contiguous(), G = g.to(DType::F64).contiguous(), D = dg.to(DType::F64).contiguous();
  const double *pa = A.data<double>(), *pg = G.data<double>(), *pd = D.data<double>();
  Tensor P = Tensor::zeros({B, H, T, T}, DType::F64);
  double* p = P.data<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        double* row = p + ((b * H + h) * T + i) * T;
        const double gi = pg[(b * T + i) * H + h], di = pd[(b * T + i) * H + h];
        double mx = di;
        for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, gi + pa[(b * T + j) * H + h]);
        const double ed = std::exp(di - mx);
        double sum = ed;
        for (int64_t j = 0; j <= i; ++j) sum += (row[j] = std::exp(gi + pa[(b * T + j) * H + h] - mx));
        row[i] += ed;
        for (int64_t j = 0; j <= i; ++j) row[j] /= sum;
      }
  report_attention(P);
}

Var elita_attention2(const Var& x, const ElitaAttentionWeights& w, const ElitaConfig& c, int64_t pos_offset,
                     ElitaState* state) {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2), H = c.n_head, d3 = c.head_width;
  // Scalar logits of every head: [B, T, nk, H] = x · [k1; k2; k3]ᵀ (k3 only with the query term).
  const int64_t nk = w.keys.size(0);
  const Var k = reshape(linear(x, reshape(w.keys, {nk * H, d})), {B, T, nk, H});
  const double n = c.pos_scale == "n-1" ? double(c.block_size - 1) : double(c.block_size);
  const Var p1 = position_logits(w.a1, w.b1, w.c, pos_offset, T, n, x.dtype());  // [T, H]
  const Var p2 = position_logits(w.a2, w.b2, w.c, pos_offset, T, n, x.dtype());
  Var a = select(k, 2, 0) + p1;                                   // key side:   k1·x_j + c·p1_j
  Var dg = select(k, 2, 1);                                       // diagonal:   k2·x_i
  Var g = nk == 3 ? select(k, 2, 2) + p2 : expand(p2, {B, T, H});  // query side: c·p2_i (+ k3·x_i)
  if (c.logit_clip > 0) {
    // The author's code clips each group before exp; beyond the bounds the gradient is zero.
    const Var lo(Tensor::scalar(-c.logit_clip, x.dtype())), hi(Tensor::scalar(c.logit_clip, x.dtype()));
    for (Var* z : {&a, &dg, &g}) *z = minimum(maximum(*z, lo), hi);
  }
  const Var v = reshape(linear(x, w.value), {B, T, H, d3});
  Var y;
  if (state) {
    // Generation: continue the running sums (no graph; generation runs under NoGrad).
    y = Var(elita_attention_forward(a.value(), g.value(), dg.value(), v.value(), state).y);
  } else {
    y = elita_attention(a, g, dg, v);
    if (attention_probe_active()) report_elita_attention(a.value(), g.value(), dg.value());
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

class ElitaAttention : public nn::Module {
 public:
  explicit ElitaAttention(const ElitaConfig& c) : cfg(c) {
    const int64_t d = c.n_embd, H = c.n_head, d2 = c.pos_width, d3 = c.head_width;
    keys = register_parameter("keys", Tensor::zeros({c.query_term ? 3 : 2, H, d}, c.dtype));
    for (const char* n : {"a1", "b1", "a2", "b2", "c"}) pos.push_back(register_parameter(n, Tensor::zeros({H, d2}, c.dtype)));
    value = register_module("value", std::make_shared<nn::Linear>(d, H * d3, false, c.dtype));
    proj = register_module("proj", std::make_shared<nn::Linear>(H * d3, d, false, c.dtype));
  }
  ElitaAttentionWeights weights() const { return {keys, pos[0], pos[1], pos[2], pos[3], pos[4], value->weight, proj->weight}; }
  Var forward(const Var& u, int64_t pos0, ElitaLayerCache* cache) const {
    return elita_attention2(u, weights(), cfg, pos0, cache ? &cache->state : nullptr);
  }
  ElitaConfig cfg;
  Var keys;
  std::vector<Var> pos;  // a1, b1, a2, b2, c
  nn::Child<nn::Linear> value, proj;
};

class ElitaFeedForward : public nn::Module {
 public:
  explicit ElitaFeedForward(const ElitaConfig& c) {
    const int64_t d = c.n_embd, s = c.ff_scale;
    w.w1 = register_parameter("w1", Tensor::zeros({d, d}, c.dtype));
    w.b1 = register_parameter("b1", Tensor::zeros({d}, c.dtype));
    w.w2 = register_parameter("w2", Tensor::zeros({s, d}, c.dtype));
    w.b2 = register_parameter("b2", Tensor::zeros({s}, c.dtype));
    w.w3 = register_parameter("w3", Tensor::zeros({d, s, d}, c.dtype));
    w.b3 = register_parameter("b3", Tensor::zeros({d}, c.dtype));
  }
  Var forward(const Var& u) const { return elita_feedforward2(u, w); }
  ElitaFeedForwardWeights w;
};

// x = x + Dropout(Attention2(LN(x)));  x = x + Dropout(FeedForward2(LN(x)))
class ElitaBlock : public DecoderBlock {
 public:
  explicit ElitaBlock(const ElitaConfig& c) : cfg(c) {
    ln_1 = register_module("ln_1", nn::make_norm("plain", c.n_embd, false, c.norm_eps, c.dtype));
    attn = register_module("attn", std::make_shared<ElitaAttention>(c));
    ln_2 = register_module("ln_2", nn::make_norm("plain", c.n_embd, false, c.norm_eps, c.dtype));
    ff = register_module("ff", std::make_shared<ElitaFeedForward>(c));
    drop = register_module("drop", std::make_shared<nn::Dropout>(c.dropout));
  }
  Var forward(const Var& x_in, const BlockInput& in) override {
    const Var x = x_in + drop(attn(ln_1(x_in), in.pos0, static_cast<ElitaLayerCache*>(in.cache)));
    return x + drop(ff(ln_2(x)));
  }
  std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dtype) const override {
    auto lc = std::make_unique<ElitaLayerCache>();
    lc->state = ElitaState::empty(batch, cfg.n_head, cfg.head_width, dtype);
    return lc;
  }
  ElitaConfig cfg;
  nn::Child<nn::Norm> ln_1, ln_2;
  nn::Child<ElitaAttention> attn;
  nn::Child<ElitaFeedForward> ff;
  nn::Child<nn::Dropout> drop;
};

}  // namespace

// logits = W_b · σ(W_a · logits + b_a) + b_b
class LogitsFfn : public nn::Module {
 public:
  explicit LogitsFfn(const ElitaConfig& c) {
    const int64_t V = c.vocab_size, Hl = c.logits_ffn_hidden;
    wa = register_parameter("wa", Tensor::zeros({Hl, V}, c.dtype));
    ba = register_parameter("ba", Tensor::zeros({Hl}, c.dtype));
    wb = register_parameter("wb", Tensor::zeros({V, Hl}, c.dtype));
    bb = register_parameter("bb", Tensor::zeros({V}, c.dtype));
  }
  Var forward(const Var& logits) const { return nn::linear(silu(nn::linear(logits, wa, ba)), wb, bb); }
  Var wa, ba, wb, bb;
};

ElitaModel::ElitaModel(const ElitaConfig& c) : ConfiguredDecoder(c, c.spec()) {
  if (c.wraps > 1) wrap_bias_ = container().register_parameter("wrap_bias", Tensor::zeros({c.wraps, c.n_embd}, c.dtype));
  // Recurrent wrapping: the layer list holds the n_layer blocks `wraps` times (one module applied
  // in every wrap, named after its first place), so every application has its own cache.
  std::vector<std::shared_ptr<ElitaBlock>> blocks;
  for (int64_t i = 0; i < c.n_layer; ++i) blocks.push_back(std::make_shared<ElitaBlock>(c));
  for (int64_t r = 0; r < c.wraps; ++r)
    for (auto& b : blocks) add_block(b);
  if (c.logits_ffn_hidden > 0) logits_ffn_ = register_module("logits_ffn", std::make_shared<LogitsFfn>(c));
  // The author's Keras initialisers, drawn with the streams seed, seed + 1, ... in parameter order:
  // wte N(0, 0.02); Attention2's keys and sines U(−0.05, 0.05); matrices Glorot-uniform, limit
  // √(6 / (fan_in + fan_out)); biases and the wrap bias 0. init "loupe" takes the fans of the 2-D
  // matrices loupe stores; init "keras" those of the author's kernels, where Keras multiplies both
  // fans of a 3-D kernel by its leading dims: value and out [H, d, d3] → (H·d, H·d3), W3 [d, s, d]
  // → (s·d, d·d) (limit 0.036 instead of 0.102 at d = 64, s = 8).
  uint64_t seed = c.seed;
  const int64_t d = c.n_embd, d3 = c.head_width, s = c.ff_scale;
  for (auto& [name, p] : named_parameters()) {
    if (p.dim() < 2 || name.ends_with("wrap_bias")) continue;
    auto glorot = [&](int64_t fan_in, int64_t fan_out) { return std::sqrt(6.0 / double(fan_in + fan_out)); };
    const bool keras = c.init == "keras";
    const int64_t H = c.n_head;
    double lim = 0.05;
    if (name.ends_with("value.weight")) lim = keras ? glorot(H * d, H * d3) : glorot(d, d3);
    else if (name.ends_with("proj.weight")) lim = keras ? glorot(H * d, H * d3) : glorot(d3, d);
    else if (name.ends_with("ff.w1")) lim = glorot(d, d);
    else if (name.ends_with("ff.w2")) lim = glorot(d, s);
    else if (name.ends_with("ff.w3")) lim = keras ? glorot(s * d, d * d) : glorot(d * s, d);
    else if (name.ends_with("logits_ffn.wa")) lim = glorot(c.vocab_size, c.logits_ffn_hidden);
    else if (name.ends_with("logits_ffn.wb")) lim = glorot(c.logits_ffn_hidden, c.vocab_size);
    p.mutable_value().copy_(name.ends_with("wte.weight") ? Tensor::normal(p.shape(), 0.0, 0.02, seed++, c.dtype)
                                                         : Tensor::uniform(p.shape(), -lim, lim, seed++, c.dtype));
  }
}

Var ElitaModel::before_layer(const Var& x, int64_t layer) {
  if (cfg_.wraps == 1 || layer % cfg_.n_layer != 0) return x;
  return x + select(wrap_bias_, 0, layer / cfg_.n_layer);  // which step of the wrapping we are on
}

Var ElitaModel::head(const Var& x) {
  const Var logits = Decoder::head(x);  // parameter-free norm, tied head
  return logits_ffn_ ? logits_ffn_(logits) : logits;
}

ElitaAttentionWeights ElitaModel::attention_weights(int64_t layer) const {
  LOUPE_CHECK(layer >= 0 && layer < cfg_.n_layer, "elita: no layer ", layer);
  return static_cast<const ElitaBlock&>(*block(size_t(layer))).attn->weights();
}

ElitaFeedForwardWeights ElitaModel::feedforward_weights(int64_t layer) const {
  LOUPE_CHECK(layer >= 0 && layer < cfg_.n_layer, "elita: no layer ", layer);
  return static_cast<const ElitaBlock&>(*block(size_t(layer))).ff->w;
}

namespace {
const ModelRegistrar registrar = ModelRegistrar::of<ElitaModel, ElitaConfig>(
    "elita", "O(n) cumulative-sum attention (stabilised), einsum feed-forward bi,bj,ijk->bk");
}  // namespace

// ------------------------------------------------------------------ the config: keys, checks, spec, parameter count
const ConfigKeys<ElitaConfig>& ElitaConfig::keys() {
  using C = ElitaConfig;
  static const auto t = ConfigKeys<C>("elita")
      .decoder_shape()  // block_size is also the n of the positional sines
      .integer("head_width", &C::head_width, 1, "d3: value width of one head", int64_t(1) << 16)
      .integer("pos_width", &C::pos_width, 1, "d2: sine bases per head", int64_t(1) << 16)
      .integer("ff_scale", &C::ff_scale, 1, "rows of FeedForward2's W2 (the author's scale factor)", int64_t(1) << 16)
      .integer("wraps", &C::wraps, 1, "recurrent wrapping: apply the layer stack this many times", 64)
      .integer("logits_ffn_hidden", &C::logits_ffn_hidden, 0, "width of the logits feed-forward (0: off)", int64_t(1) << 20)
      .number("norm_eps", &C::norm_eps, 0, 1, "epsilon of the parameter-free layer norm")
      .choice("pos_scale", &C::pos_scale, {"n", "n-1"}, "positions of the sines: i / n, or i / (n - 1) as the author's code")
      .number("logit_clip", &C::logit_clip, 0, 1e6, "clip each logit group to [-c, c] before exp (author's code: 20; 0: off)")
      .choice("init", &C::init, {"loupe", "keras"}, "fans of value/out/W3 init: loupe's 2-D matrices or Keras' 3-D kernels")
      .boolean("query_term", &C::query_term, "the query logit k3.x_i (false: the author's plotted run)")
      .dropout_seed_dtype("dropout on each residual branch");
  return t;
}

void ElitaConfig::resolve(const std::string& model) const {
  check_shape(model, false);  // heads have their own width (head_width), not n_embd / n_head
  LOUPE_CHECK(pos_scale == "n" || block_size > 1, model, " config: \"pos_scale\": \"n-1\" needs block_size > 1");
}

DecoderSpec ElitaConfig::spec() const {
  DecoderSpec s = shape_spec("elita", Naming::NanoGPT);
  s.tie_weights = true;
  s.norm = "plain";
  s.norm_eps = norm_eps;
  return s;
}

double ElitaConfig::count_parameters() const {
  const double d = double(n_embd), H = double(n_head), d2 = double(pos_width), d3 = double(head_width);
  const double s = double(ff_scale), V = double(vocab_size), Hl = double(logits_ffn_hidden);
  const double attn = (query_term ? 3 : 2) * H * d + 5 * H * d2 + 2 * H * d3 * d;
  const double ff = d * d + d + s * d + s + d * s * d + d;
  const double logits = Hl > 0 ? 2 * V * Hl + Hl + V : 0;
  return skeleton_parameters(spec()) + (wraps > 1 ? double(wraps) * d : 0) + double(n_layer) * (attn + ff) + logits;
}

}  // namespace loupe::models
