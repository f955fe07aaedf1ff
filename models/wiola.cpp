// Wiola (shared/specs/wiola.md): the LLaMA baseline of models/llama.cpp plus five switchable
// components. Equations and interpretations in wiola.h; names, init and ops of the baseline
// parts are llama.cpp's, so that all switches off give exactly the baseline.
#include "models/wiola.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/config_reader.h"
#include "models/kv_cache.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/rmsnorm.h"
#include "nn/swiglu.h"

namespace loupe::models {

// ------------------------------------------------------------------ config
WiolaConfig WiolaConfig::from_json(const nlohmann::json& j) {
  ConfigReader r(j, "wiola");
  WiolaConfig c;
  c.read_keys(r, "wiola");
  c.offset_norm = r.boolean("offset_norm", c.offset_norm);
  c.dsff = r.boolean("dsff", c.dsff);
  c.srpe = r.boolean("srpe", c.srpe);
  c.gcla = r.boolean("gcla", c.gcla);
  c.atm = r.boolean("atm", c.atm);
  c.srpe_relative = r.number("srpe_relative", c.srpe_relative, 0.0, 1.0);
  c.srpe_hierarchical = r.number("srpe_hierarchical", c.srpe_hierarchical, 0.0, 1.0);
  c.srpe_segment = r.integer("srpe_segment", c.srpe_segment, 1);
  c.gcla_rank = r.integer("gcla_rank", c.gcla_rank, 0);
  c.gcla_gate_init = r.number("gcla_gate_init", c.gcla_gate_init, -100.0, 100.0);
  c.atm_threshold = r.number("atm_threshold", c.atm_threshold, -1.0, 2.0);
  c.atm_first = r.integer("atm_first", c.atm_first, -1);
  c.atm_last = r.integer("atm_last", c.atm_last, -1);
  c.dsff_hidden_a = r.integer("dsff_hidden_a", c.dsff_hidden_a, 0);
  c.dsff_hidden_b = r.integer("dsff_hidden_b", c.dsff_hidden_b, 0);
  r.finish();
  c.resolve();
  return c;
}

void WiolaConfig::resolve() {
  resolve_keys("wiola");
  if (gcla_rank == 0) gcla_rank = std::max<int64_t>(1, n_embd / 4);
  if (dsff_hidden_a == 0) dsff_hidden_a = 2 * n_embd;
  if (dsff_hidden_b == 0) dsff_hidden_b = (4 * n_embd / 3 + 7) / 8 * 8;
  if (atm_first < 0) atm_first = n_layer / 3;                // the middle third:
  if (atm_last < 0) atm_last = n_layer - 1 - n_layer / 3;  // layers [L/3, L − L/3)
  LOUPE_CHECK(srpe_relative + srpe_hierarchical <= 1.0, "wiola config: srpe_relative ", srpe_relative,
              " + srpe_hierarchical ", srpe_hierarchical, " exceed 1");
}

nlohmann::json WiolaConfig::to_json() const {
  nlohmann::json j = keys_json("wiola");
  j.update({{"offset_norm", offset_norm},
          {"dsff", dsff},
          {"srpe", srpe},
          {"gcla", gcla},
          {"atm", atm},
          {"srpe_relative", srpe_relative},
          {"srpe_hierarchical", srpe_hierarchical},
          {"srpe_segment", srpe_segment},
          {"gcla_rank", gcla_rank},
          {"gcla_gate_init", gcla_gate_init},
          {"atm_threshold", atm_threshold},
          {"atm_first", atm_first},
          {"atm_last", atm_last},
          {"dsff_hidden_a", dsff_hidden_a},
          {"dsff_hidden_b", dsff_hidden_b}});
  return j;
}

bool WiolaConfig::atm_layer(int64_t layer) const { return atm && layer >= atm_first && layer <= atm_last; }

// ------------------------------------------------------------------ (v) WiolaRMSNorm
Var wiola_rms_norm(const Var& x, const Var& weight, const Var& offset, double eps) {
  const Var y = rms_norm(x, weight, eps);
  return offset.defined() ? y + offset : y;
}

// ------------------------------------------------------------------ (iv) DSFF, (ii) GCLA
static Var linear(const Var& x, const Var& w) { return matmul(x, transpose(w, 0, 1)); }  // x Wᵀ, W [out, in]

Var dual_stream_ff(const Var& u, const Var& w1a, const Var& w2a, const Var& w1b, const Var& w2b, const Var& w3b,
                   const Var& gamma) {
  const Var a = linear(gelu(linear(u, w1a)), w2a);
  const Var b = linear(silu(linear(u, w1b)) * linear(u, w3b), w2b);
  return b + sigmoid(gamma) * (a - b);  // = σ(γ) A + (1 − σ(γ)) B
}

Var gated_cross_layer(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                      const Var& wo, const Var& beta) {
  const Var q = linear(u, wq), s1 = linear(h1, c1), s2 = linear(h2, c2);
  const int64_t last = u.dim() - 1;
  // Two keys per position: the summaries of the same token in the two layers before.
  const Var logits =
      concat({sum(q * s1, {last}, true), sum(q * s2, {last}, true)}, last) * (1.0 / std::sqrt(double(wq.size(0))));
  const Var w = softmax(logits, last);
  const Var o = narrow(w, last, 0, 1) * s1 + narrow(w, last, 1, 1) * s2;
  return sigmoid(beta) * linear(o, wo);
}

// ------------------------------------------------------------------ (i) SRPE
SrpeBands SrpeBands::of(const WiolaConfig& c, int64_t head_dim) {
  const int64_t pairs = head_dim / 2;
  SrpeBands b;
  b.n_rel = std::min<int64_t>(pairs, std::llround(c.srpe_relative * double(pairs)));
  b.n_hier = std::min<int64_t>(pairs - b.n_rel, std::llround(c.srpe_hierarchical * double(pairs)));
  b.n_helix = pairs - b.n_rel - b.n_hier;
  return b;
}

Var srpe_rotate(const Var& x, int64_t pos0, const Var& alpha, const SrpeBands& bands, int64_t segment,
                int64_t block_size, double base) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "srpe_rotate: x must be [B, T, H, D] with D even, got ",
              x.value().str());
  const int64_t T = x.size(1), H = x.size(2), D = x.size(3), P2 = D / 2;
  LOUPE_CHECK(bands.n_rel + bands.n_hier + bands.n_helix == P2, "srpe_rotate: bands ", bands.n_rel, " + ",
              bands.n_hier, " + ", bands.n_helix, " do not cover the ", P2, " pairs of head size ", D);
  LOUPE_CHECK(alpha.defined() && alpha.shape() == Shape({H}), "srpe_rotate: alpha must be [", H, "]");
  const DType dt = x.dtype();
  const int64_t nc = bands.n_rel + bands.n_hier, nh = bands.n_helix;
  auto theta = [&](int64_t i) { return std::pow(base, -2.0 * double(i) / double(D)); };
  // Fixed bands: relative angle p·θ_i, hierarchical ⌊p/S⌋·θ_i.
  Tensor cos_c = Tensor::empty({T, 1, nc}, dt), sin_c = Tensor::empty({T, 1, nc}, dt);
  // Helix band: angle p·θ_i + α_h · p·θ_i·√p/√P.
  Tensor ang = Tensor::empty({T, 1, nh}, dt), fan = Tensor::empty({T, 1, nh}, dt);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos0 + t;
    for (int64_t i = 0; i < nc; ++i) {
      const double a = (i < bands.n_rel ? double(p) : double(p / segment)) * theta(i);
      cos_c.set({t, 0, i}, std::cos(a)), sin_c.set({t, 0, i}, std::sin(a));
    }
    for (int64_t i = 0; i < nh; ++i) {
      const double a = double(p) * theta(nc + i);
      ang.set({t, 0, i}, a), fan.set({t, 0, i}, a * std::sqrt(double(p)) / std::sqrt(double(block_size)));
    }
  }
  Var cosv = Var(cos_c.expand({T, H, nc})), sinv = Var(sin_c.expand({T, H, nc}));
  if (nh > 0) {
    const Var phi = Var(ang) + reshape(alpha, {1, H, 1}) * Var(fan);  // [T, H, nh]
    cosv = nc > 0 ? concat({cosv, cos(phi)}, 2) : cos(phi);
    sinv = nc > 0 ? concat({sinv, sin(phi)}, 2) : sin(phi);
  }
  // Interleaved pairs (x[2i], x[2i+1]) turned by their angle, as rope(), in one fused op.
  return rotate_pairs(x, cosv, sinv);
}

// ------------------------------------------------------------------ (iii) ATM
Var atm_attention(const Var& q, const Var& k, const Var& v, int64_t q_offset, double threshold, AtmStats* stats) {
  LOUPE_CHECK(q.dim() == 4 && k.dim() == 4 && v.shape() == k.shape() && q.size(0) == k.size(0) &&
                  q.size(1) == k.size(1) && q.size(3) == k.size(3),
              "atm_attention: q ", q.value().str(), ", k ", k.value().str(), ", v ", v.value().str(),
              " must be [B, H, T, D] with matching B, H, D");
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Tk = k.size(2), np = Tk / 2;
  LOUPE_CHECK(q_offset + Tq == Tk, "atm_attention: ", Tq, " queries after ", q_offset, " earlier tokens need ",
              q_offset + Tq, " keys, got ", Tk);
  const DType dt = q.dtype();
  // The merge decision (not differentiated): cosine of the two keys of each complete pair.
  std::vector<char> merged(size_t(B * H * np), 0);
  {
    const Tensor kd = k.value().to(DType::F64).contiguous();
    const double* pk = kd.data<double>();
    for (int64_t r = 0; r < B * H; ++r)
      for (int64_t j = 0; j < np; ++j) {
        const double *a = pk + (r * Tk + 2 * j) * D, *b = a + D;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t e = 0; e < D; ++e) ab += a[e] * b[e], aa += a[e] * a[e], bb += b[e] * b[e];
        merged[size_t(r * np + j)] = ab >= threshold * std::sqrt(aa * bb) && aa > 0 && bb > 0;
      }
  }
  // Additive masks: 0 where visible, −1e9 (exp underflows to exactly 0) where not; log 2 on merged entries.
  constexpr double hidden = -1e9;
  Tensor mask_o = Tensor::empty({B, H, Tq, Tk}, dt), mask_m = Tensor::empty({B, H, Tq, np}, dt);
  int64_t n_merged = 0, saved = 0, full = 0;
  LOUPE_DISPATCH(dt, T, {
    T *mo = mask_o.data<T>(), *mm = mask_m.data<T>();
    for (int64_t r = 0; r < B * H; ++r)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t t = q_offset + i;  // absolute position of the query
        full += t + 1;
        for (int64_t j = 0; j < Tk; ++j) {
          const bool pair_merged = j / 2 < np && merged[size_t(r * np + j / 2)] && t >= (j / 2) * 2 + 1;
          mo[(r * Tq + i) * Tk + j] = T(j <= t && !pair_merged ? 0.0 : hidden);
        }
        for (int64_t m = 0; m < np; ++m) {
          const bool vis = merged[size_t(r * np + m)] && t >= 2 * m + 1;
          mm[(r * Tq + i) * np + m] = T(vis ? std::log(2.0) : hidden);
          saved += vis;
        }
      }
  });
  for (char m : merged) n_merged += m;
  if (stats) *stats = AtmStats{B * H * np, n_merged, full, full - saved};

  const double scale = 1.0 / std::sqrt(double(D));
  const Var s = matmul(q, transpose(k, 2, 3)) * scale + Var(mask_o);  // [B, H, Tq, Tk]
  if (np == 0) return matmul(softmax(s, 3), v);
  // Merged entries: the mean of each pair's keys and values.
  const Var kb = mean(reshape(narrow(k, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var vb = mean(reshape(narrow(v, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var sm = matmul(q, transpose(kb, 2, 3)) * scale + Var(mask_m);  // [B, H, Tq, np]
  const Var p = softmax(concat({s, sm}, 3), 3);
  return matmul(narrow(p, 3, 0, Tk), v) + matmul(narrow(p, 3, Tk, np), vb);
}

// ------------------------------------------------------------------ modules
namespace {

// RMSNorm with an optional learned offset β ("bias"); without it, exactly nn::RMSNorm.
class WiolaNorm : public nn::Module {
 public:
  WiolaNorm(int64_t d, bool offset, double eps_, DType dt) : eps(eps_) {
    weight = register_parameter("weight", Tensor::ones({d}, dt));
    if (offset) bias = register_parameter("bias", Tensor::zeros({d}, dt));
  }
  Var forward(const Var& x) const { return wiola_rms_norm(x, weight, bias, eps); }
  double eps;
  Var weight, bias;
};

// (iv) DSFF: y = B + σ(γ) ⊙ (A − B)  (= σ(γ) A + (1 − σ(γ)) B).
class Dsff : public nn::Module {
 public:
  Dsff(const WiolaConfig& c, uint64_t seed) {
    const int64_t d = c.n_embd, ha = c.dsff_hidden_a, hb = c.dsff_hidden_b;
    gelu_up = register_module("gelu_up", std::make_shared<nn::Linear>(d, ha, false, c.dtype));
    gelu_down = register_module("gelu_down", std::make_shared<nn::Linear>(ha, d, false, c.dtype));
    w1 = register_module("w1", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    w2 = register_module("w2", std::make_shared<nn::Linear>(hb, d, false, c.dtype));
    w3 = register_module("w3", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    gate = register_parameter("gate", Tensor::zeros({d}, c.dtype));
    drop = register_module("drop", std::make_shared<nn::Dropout>(c.dropout, nn::param_seed(seed, "ffn.drop")));
  }
  Var forward(const Var& u) {
    return drop->forward(dual_stream_ff(u, gelu_up->weight, gelu_down->weight, w1->weight, w2->weight, w3->weight, gate));
  }
  std::shared_ptr<nn::Linear> gelu_up, gelu_down, w1, w2, w3;
  std::shared_ptr<nn::Dropout> drop;
  Var gate;
};

// (ii) GCLA: per position, a query from the layer's normalised input attends over the two
// summaries s_k = C_k h_{l−k} (k = 1, 2); the result, projected back, enters through σ(β).
class Gcla : public nn::Module {
 public:
  explicit Gcla(const WiolaConfig& c) : r(c.gcla_rank) {
    const int64_t d = c.n_embd;
    query = register_module("query", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress1 = register_module("compress1", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress2 = register_module("compress2", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    out = register_module("out", std::make_shared<nn::Linear>(r, d, false, c.dtype));
    gate = register_parameter("gate", Tensor::full({d}, c.gcla_gate_init, c.dtype));
  }
  Var forward(const Var& u, const Var& h1, const Var& h2) const {
    return gated_cross_layer(u, h1, h2, query->weight, compress1->weight, compress2->weight, out->weight, gate);
  }
  int64_t r;
  std::shared_ptr<nn::Linear> query, compress1, compress2, out;
  Var gate;
};

// Attention with SRPE and/or ATM; the same c_attn / c_proj as nn::CausalSelfAttention.
class WiolaAttention : public nn::Module {
 public:
  WiolaAttention(const WiolaConfig& c, bool use_atm_, uint64_t seed) : cfg(c), use_atm(use_atm_) {
    H = c.n_head, n_kv = c.n_kv_head, D = c.n_embd / c.n_head;
    bands = c.srpe ? SrpeBands::of(c, D) : SrpeBands{D / 2, 0, 0};
    c_attn = register_module("c_attn", std::make_shared<nn::Linear>(c.n_embd, (H + 2 * n_kv) * D, false, c.dtype));
    c_proj = register_module("c_proj", std::make_shared<nn::Linear>(c.n_embd, c.n_embd, false, c.dtype));
    resid_drop = register_module("resid_drop", std::make_shared<nn::Dropout>(c.dropout, nn::param_seed(seed, "resid")));
    if (c.srpe) srpe_alpha = register_parameter("srpe_alpha", Tensor::zeros({H}, c.dtype));
    attn_seed = nn::param_seed(seed, "attn");
  }
  nn::KVCache make_cache(int64_t batch, int64_t max_len, DType dt) const {
    return nn::KVCache{Tensor::zeros({batch, max_len, n_kv, D}, dt), Tensor::zeros({batch, max_len, n_kv, D}, dt), 0};
  }
  Var rotate(const Var& x, int64_t pos0) const {
    return cfg.srpe ? srpe_rotate(x, pos0, srpe_alpha, bands, cfg.srpe_segment, cfg.block_size, cfg.rope_base)
                    : rope(x, pos0, cfg.rope_base);
  }
  Var forward(const Var& x, nn::KVCache* cache) {
    const int64_t B = x.size(0), T = x.size(1), pos0 = cache ? cache->len : 0;
    std::vector<Var> qkv = split(c_attn->forward(x), {H * D, n_kv * D, n_kv * D}, 2);
    const Var q = rotate(reshape(qkv[0], {B, T, H, D}), pos0);
    Var k = rotate(reshape(qkv[1], {B, T, n_kv, D}), pos0);
    Var v = reshape(qkv[2], {B, T, n_kv, D});
    if (cache) {
      LOUPE_CHECK(cache->k.size(0) == B && pos0 + T <= cache->k.size(1), "wiola attention: cache for batch ",
                  cache->k.size(0), " and ", cache->k.size(1), " positions cannot take ", T, " more tokens after ",
                  pos0);
      cache->k.narrow(1, pos0, T).copy_(k.value());
      cache->v.narrow(1, pos0, T).copy_(v.value());
      cache->len = pos0 + T;
      k = Var(cache->k.narrow(1, 0, cache->len));
      v = Var(cache->v.narrow(1, 0, cache->len));
    }
    Var kt = transpose(k, 1, 2), vt = transpose(v, 1, 2);  // [B, Hkv, Tk, D]
    Var y;
    if (use_atm) {
      if (n_kv != H) {  // grouped-query: give every query head its kv head
        const int64_t G = H / n_kv, Tk = kt.size(2);
        kt = reshape(expand(unsqueeze(kt, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
        vt = reshape(expand(unsqueeze(vt, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
      }
      y = atm_attention(transpose(q, 1, 2), kt, vt, pos0, cfg.atm_threshold, &stats);
    } else {
      AttentionOptions opt;
      opt.q_offset = pos0;
      if (is_training() && cfg.dropout > 0) {
        opt.dropout_p = cfg.dropout, opt.seed = attn_seed, opt.counter = attn_calls++;
      }
      y = causal_attention(transpose(q, 1, 2), kt, vt, opt);
    }
    y = reshape(transpose(y, 1, 2), {B, T, H * D});
    return resid_drop->forward(c_proj->forward(y));
  }

  WiolaConfig cfg;
  bool use_atm;
  int64_t H, n_kv, D;
  SrpeBands bands;
  std::shared_ptr<nn::Linear> c_attn, c_proj;
  std::shared_ptr<nn::Dropout> resid_drop;
  Var srpe_alpha;
  uint64_t attn_seed, attn_calls = 0;
  AtmStats stats;
};

// x = x + Attn(attention_norm(x));  [x = x + GCLA];  x = x + FFN(ffn_norm(x))
class WiolaLayer : public nn::Module {
 public:
  WiolaLayer(const WiolaConfig& c, int64_t layer) : index(layer) {
    const uint64_t seed = nn::param_seed(c.seed, "layers." + std::to_string(layer));
    attention_norm = register_module("attention_norm", std::make_shared<WiolaNorm>(c.n_embd, c.offset_norm,
                                                                                   c.norm_eps, c.dtype));
    if (c.srpe || c.atm_layer(layer)) {
      wattn = register_module("attention", std::make_shared<WiolaAttention>(c, c.atm_layer(layer), seed));
    } else {  // the baseline's own attention module
      nn::AttentionConfig ac;
      ac.n_embd = c.n_embd, ac.n_head = c.n_head, ac.n_kv_head = c.n_kv_head, ac.bias = false;
      ac.dropout = c.dropout, ac.rope = true, ac.rope_base = c.rope_base, ac.seed = seed;
      battn = register_module("attention", std::make_shared<nn::CausalSelfAttention>(ac, c.dtype));
    }
    if (c.gcla && layer >= 1) gcla = register_module("gcla", std::make_shared<Gcla>(c));
    ffn_norm = register_module("ffn_norm", std::make_shared<WiolaNorm>(c.n_embd, c.offset_norm, c.norm_eps, c.dtype));
    if (c.dsff) {
      dsff = register_module("feed_forward", std::make_shared<Dsff>(c, seed));
    } else {
      swiglu = register_module("feed_forward",
                               std::make_shared<nn::SwiGLU>(c.n_embd, c.ffn_hidden, c.dropout, seed, c.dtype));
    }
  }
  nn::KVCache make_cache(int64_t batch, int64_t max_len, DType dt) const {
    return wattn ? wattn->make_cache(batch, max_len, dt) : battn->make_cache(batch, max_len, dt);
  }
  // h1, h2: outputs of the two layers before (h_0 = the embeddings); used by GCLA.
  Var forward(Var x, const Var& h1, const Var& h2, nn::KVCache* cache) {
    const Var u = attention_norm->forward(x);
    x = x + (wattn ? wattn->forward(u, cache) : battn->forward(u, cache));
    if (gcla) x = x + gcla->forward(u, h1, h2);
    const Var f = ffn_norm->forward(x);
    return x + (dsff ? dsff->forward(f) : swiglu->forward(f));
  }
  int64_t index;
  std::shared_ptr<WiolaNorm> attention_norm, ffn_norm;
  std::shared_ptr<WiolaAttention> wattn;
  std::shared_ptr<nn::CausalSelfAttention> battn;
  std::shared_ptr<Gcla> gcla;
  std::shared_ptr<Dsff> dsff;
  std::shared_ptr<nn::SwiGLU> swiglu;
};

}  // namespace

struct WiolaModel::Impl {
  std::shared_ptr<nn::Embedding> tok_embeddings;
  std::shared_ptr<nn::ModuleList<WiolaLayer>> layers;
  std::shared_ptr<WiolaNorm> norm;
  std::shared_ptr<nn::Linear> output;  // only when untied
};

WiolaModel::WiolaModel(const WiolaConfig& config) : ConfiguredModel(config), impl_(std::make_shared<Impl>()) {
  cfg_.resolve();
  const WiolaConfig& c = cfg_;
  auto& m = *impl_;
  m.tok_embeddings = register_module("tok_embeddings", std::make_shared<nn::Embedding>(c.vocab_size, c.n_embd, c.dtype));
  m.layers = register_module("layers", std::make_shared<nn::ModuleList<WiolaLayer>>());
  for (int64_t i = 0; i < c.n_layer; ++i) m.layers->push_back(std::make_shared<WiolaLayer>(c, i));
  m.norm = register_module("norm", std::make_shared<WiolaNorm>(c.n_embd, c.offset_norm, c.norm_eps, c.dtype));
  if (!c.tie_weights)
    m.output = register_module("output", std::make_shared<nn::Linear>(c.n_embd, c.vocab_size, false, c.dtype));
  // llama.cpp's init, keyed by name: N(0, 0.02), residual projections N(0, 0.02/√(2L)).
  for (auto& [name, p] : named_parameters()) {
    if (p.dim() < 2) continue;  // norm gains 1, offsets 0, gates and α as constructed
    const bool residual = name.ends_with("attention.c_proj.weight") || name.ends_with("feed_forward.w2.weight") ||
                          name.ends_with("feed_forward.gelu_down.weight") || name.ends_with("gcla.out.weight");
    nn::init_normal_(p, residual ? 0.02 / std::sqrt(2.0 * double(c.n_layer)) : 0.02, c.seed, name);
  }
}

Var WiolaModel::run(const Tensor& ids, DecodeCache* dc) {
  LOUPE_CHECK(ids.dtype() == DType::I64 && ids.dim() == 2, "wiola: ids must be i64 [B, T], got ", ids.str());
  TransformerCache* cache = dc ? &as_transformer_cache(*dc, impl_->layers->size(), "wiola") : nullptr;
  if (!cache)
    LOUPE_CHECK(ids.size(1) <= cfg_.block_size, "wiola: sequence of ", ids.size(1), " tokens exceeds block_size ",
                cfg_.block_size);
  auto& m = *impl_;
  Var x = m.tok_embeddings->forward(ids);
  Var h_prev2, h_prev1 = x;  // h_{l−2}, h_{l−1}
  for (size_t l = 0; l < m.layers->size(); ++l) {
    Var y = (*m.layers)[l].forward(x, h_prev1, h_prev2, cache ? &cache->layers[l] : nullptr);
    h_prev2 = h_prev1, h_prev1 = y, x = y;
  }
  x = m.norm->forward(x);
  return m.output ? m.output->forward(x) : matmul(x, transpose(m.tok_embeddings->weight, 0, 1));
}

Var WiolaModel::forward(const Tensor& ids) { return run(ids, nullptr); }

std::unique_ptr<DecodeCache> WiolaModel::make_cache(int64_t batch, int64_t max_len) const {
  LOUPE_CHECK(batch >= 1 && max_len >= 1, "wiola: cache needs batch >= 1 and max_len >= 1");
  auto cache = std::make_unique<TransformerCache>();
  for (auto& l : *impl_->layers) cache->layers.push_back(l->make_cache(batch, max_len, cfg_.dtype));
  return cache;
}

Var WiolaModel::forward_cached(const Tensor& ids, DecodeCache& cache) { return run(ids, &cache); }

std::vector<AtmStats> WiolaModel::atm_stats() const {
  std::vector<AtmStats> out;
  for (auto& l : *impl_->layers) out.push_back(l->wattn && l->wattn->use_atm ? l->wattn->stats : AtmStats{});
  return out;
}

std::vector<std::pair<std::string, double>> WiolaModel::step_stats() const {
  if (!cfg_.atm) return {};
  AtmStats all;
  for (const AtmStats& s : atm_stats())
    all.pairs += s.pairs, all.merged += s.merged, all.entries_full += s.entries_full,
        all.entries_merged += s.entries_merged;
  return {{"atm_merge_rate", all.merge_rate()}, {"atm_cost_saved", all.cost_saved()}};
}

static ModelRegistrar wiola_registrar("wiola", [](const nlohmann::json& j) -> std::shared_ptr<LanguageModel> {
  return std::make_shared<WiolaModel>(WiolaConfig::from_json(j));
});

}  // namespace loupe::models
