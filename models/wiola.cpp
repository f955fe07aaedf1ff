// Wiola (docs/models/wiola.md): the LLaMA baseline of models/llama.cpp plus five switchable
// components. Equations and interpretations in wiola.h; names, init and ops of the baseline
// parts are llama.cpp's, so that all switches off give exactly the baseline.
#include "models/wiola.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/attention_probe.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "nn/rmsnorm.h"

namespace loupe::models {

// ------------------------------------------------------------------ config
const ConfigKeys<WiolaConfig>& WiolaConfig::keys() {
  using C = WiolaConfig;
  static const auto t = ConfigKeys<C>("wiola")
      .include(LlamaConfig::keys())
      .boolean("offset_norm", &C::offset_norm, "WiolaRMSNorm: a learned offset β after every RMSNorm")
      .boolean("dsff", &C::dsff, "dual-stream feed-forward: two streams fused by a learned gate")
      .boolean("srpe", &C::srpe, "spiral RoPE: relative, hierarchical and helix bands")
      .boolean("gcla", &C::gcla, "gated cross-layer attention over the two layers before")
      .boolean("atm", &C::atm, "adaptive token merging of similar adjacent keys in the middle layers")
      .number("srpe_relative", &C::srpe_relative, 0, 1, "fraction of rotary pairs in the relative band")
      .number("srpe_hierarchical", &C::srpe_hierarchical, 0, 1, "fraction in the hierarchical band (rest: helix)")
      .integer("srpe_segment", &C::srpe_segment, 1, "S: tokens per helix turn / hierarchical segment", int64_t(1) << 20)
      .number("srpe_radial_amplitude", &C::srpe_radial_amplitude, -1, 1, "A of the radial term r_p = 1 + A sin(w p); 0: none")
      .number("srpe_radial_frequency", &C::srpe_radial_frequency, 0, 1e6, "w of the radial term (radians per position)")
      .choice("gcla_mode", &C::gcla_mode, {"causal_cache", "same_position"},
              "GCLA over the summaries of every position <= t (release), or of position t only")
      .integer("gcla_rank", &C::gcla_rank, 0, "GCLA summary width r; 0: n_embd / 4", int64_t(1) << 16)
      .number("gcla_gate_init", &C::gcla_gate_init, -100, 100, "initial GCLA gate logit β")
      .choice("atm_mode", &C::atm_mode, {"causal", "greedy_unmerge"},
              "ATM merging keys/values causally, or tokens greedily in training with unmerge (leaks the future)")
      .number("atm_threshold", &C::atm_threshold, -1, 2, "τ: merge a pair when its cosine >= τ")
      .integer("atm_first", &C::atm_first, -1, "first ATM layer (0-indexed); -1: start of the middle third", 1024)
      .integer("atm_last", &C::atm_last, -1, "last ATM layer; -1: end of the middle third", 1024)
      .choice("dsff_widths", &C::dsff_widths, {"release", "balanced"},
              "DSFF streams: GELU of width d and 4d (release), or GELU 2d and SwiGLU 4d/3")
      .integer("dsff_hidden_a", &C::dsff_hidden_a, 0, "first (GELU) stream width; 0: d (release) or 2d", int64_t(1) << 20)
      .integer("dsff_hidden_b", &C::dsff_hidden_b, 0, "second stream width; 0: 4d (release) or 4d/3 rounded up to 8",
               int64_t(1) << 20);
  return t;
}

WiolaConfig WiolaConfig::from_json(const nlohmann::json& j) {
  WiolaConfig c;
  keys().read(j, c);
  c.resolve();
  return c;
}

void WiolaConfig::resolve() {
  LlamaConfig::resolve("wiola");
  if (gcla_rank == 0) gcla_rank = std::max<int64_t>(1, n_embd / 4);
  const bool release = dsff_widths == "release";
  if (dsff_hidden_a == 0) dsff_hidden_a = release ? n_embd : 2 * n_embd;
  if (dsff_hidden_b == 0) dsff_hidden_b = release ? 4 * n_embd : (4 * n_embd / 3 + 7) / 8 * 8;
  if (atm_first < 0) atm_first = n_layer / 3;                // the middle third:
  if (atm_last < 0) atm_last = n_layer - 1 - n_layer / 3;  // layers [L/3, L − L/3)
  LOUPE_CHECK(srpe_relative + srpe_hierarchical <= 1.0, "wiola config: srpe_relative ", srpe_relative,
              " + srpe_hierarchical ", srpe_hierarchical, " exceed 1");
  LOUPE_CHECK(!(atm && atm_mode == "greedy_unmerge" && dropout > 0), "wiola config: \"atm_mode\": \"greedy_unmerge\" ",
              "has no attention-probability dropout; set \"dropout\": 0 (got ", dropout, ")");
}

double WiolaConfig::count_parameters() const {
  const double d = double(n_embd), o = offset_norm ? 2 : 1, L = double(n_layer);
  const double streams_b = dsff_widths == "release" ? 2 : 3;  // GELU: up, down; SwiGLU: w1, w2, w3
  const double ffn = dsff ? 2 * d * double(dsff_hidden_a) + streams_b * d * double(dsff_hidden_b) + d : 3 * d * double(ffn_hidden);
  const double attn = d * (d + 2 * double(n_kv_head * (n_embd / n_head))) + d * d + (srpe ? double(n_kv_head) : 0);
  const double gcla_layers = gcla ? std::max(0.0, L - 1) : 0;
  const double gcla_params = 3 * d * double(gcla_rank) + double(gcla_rank) * d + d;
  DecoderSpec s = spec("wiola");
  s.norm_bias = offset_norm;
  return skeleton_parameters(s) + L * (2 * o * d + attn + ffn) + gcla_layers * gcla_params;
}

bool WiolaConfig::atm_layer(int64_t layer) const { return atm && layer >= atm_first && layer <= atm_last; }

// ------------------------------------------------------------------ (v) WiolaRMSNorm
// (the layer is nn::RMSNorm with bias = offset_norm; this is its functional form)
Var wiola_rms_norm(const Var& x, const Var& weight, const Var& offset, double eps) {
  const Var y = rms_norm(x, weight, eps);
  return offset.defined() ? y + offset : y;
}

// ------------------------------------------------------------------ (iv) DSFF, (ii) GCLA
using nn::linear;

Var dual_stream_ff(const Var& u, const Var& w1a, const Var& w2a, const Var& w1b, const Var& w2b, const Var& w3b,
                   const Var& gamma) {
  const Var a = linear(gelu(linear(u, w1a)), w2a);
  Var hb = linear(u, w1b);
  if (w3b.defined()) {
    hb = silu(hb);
    hb = hb * linear(u, w3b);
  } else {
    hb = gelu(hb);
  }
  const Var b = linear(hb, w2b);
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

// 0 where visible, −1e9 (exp underflows to exactly 0) where hidden.
constexpr double kHidden = -1e9;

Var gcla_causal_attend(const Var& q, const Var& s1, const Var& s2, const Var& wo, const Var& beta) {
  LOUPE_CHECK(q.dim() == 3 && s1.dim() == 3 && s2.shape() == s1.shape() && q.size(0) == s1.size(0) &&
                  q.size(2) == s1.size(2) && q.size(1) <= s1.size(1),
              "gcla_causal_attend: q ", q.value().str(), ", s1 ", s1.value().str(), ", s2 ", s2.value().str(),
              " must be [B, T, r] and [B, Tk >= T, r]");
  const int64_t T = q.size(1), Tk = s1.size(1), off = Tk - T;
  Tensor mask = Tensor::empty({T, Tk}, q.dtype());
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < Tk; ++j) mask.set({i, j}, j <= off + i ? 0.0 : kHidden);
  const double scale = 1.0 / std::sqrt(double(q.size(2)));
  // One softmax over both layers' summaries of every visible position.
  const Var l1 = matmul(q, transpose(s1, 1, 2)) * scale + Var(mask);
  const Var l2 = matmul(q, transpose(s2, 1, 2)) * scale + Var(mask);
  const Var p = softmax(concat({l1, l2}, 2), 2);
  const Var o1 = matmul(narrow(p, 2, 0, Tk), s1);
  const Var o2 = matmul(narrow(p, 2, Tk, Tk), s2);
  const Var o = linear(o1 + o2, wo);
  return sigmoid(beta) * o;
}

Var gated_cross_layer_causal(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                             const Var& wo, const Var& beta) {
  const Var q = linear(u, wq);
  const Var s1 = linear(h1, c1);
  const Var s2 = linear(h2, c2);
  return gcla_causal_attend(q, s1, s2, wo, beta);
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
                int64_t block_size, double base, SrpeRadial radial) {
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
  // The radial term r_p = 1 + A·sin(ω·p), scaling both entries of every rotated pair.
  const bool radial_on = radial.amplitude != 0;
  Tensor rad = Tensor::empty({T, 1, 1}, dt);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos0 + t;
    const double r = 1.0 + radial.amplitude * std::sin(radial.frequency * double(p));
    rad.set({t, 0, 0}, r);
    for (int64_t i = 0; i < nc; ++i) {
      const double a = (i < bands.n_rel ? double(p) : double(p / segment)) * theta(i);
      cos_c.set({t, 0, i}, r * std::cos(a)), sin_c.set({t, 0, i}, r * std::sin(a));  // A = 0: r is exactly 1
    }
    for (int64_t i = 0; i < nh; ++i) {
      const double a = double(p) * theta(nc + i);
      ang.set({t, 0, i}, a), fan.set({t, 0, i}, a * std::sqrt(double(p)) / std::sqrt(double(block_size)));
    }
  }
  Var cosv = Var(cos_c.expand({T, H, nc})), sinv = Var(sin_c.expand({T, H, nc}));
  if (nh > 0) {
    const Var phi = Var(ang) + reshape(alpha, {1, H, 1}) * Var(fan);  // [T, H, nh]
    Var ch = cos(phi), sh = sin(phi);
    if (radial_on) ch = ch * Var(rad), sh = sh * Var(rad);
    cosv = nc > 0 ? concat({cosv, ch}, 2) : ch;
    sinv = nc > 0 ? concat({sinv, sh}, 2) : sh;
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
  // Additive masks: 0 where visible, kHidden where not; log 2 on merged entries.
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
          mo[(r * Tq + i) * Tk + j] = T(j <= t && !pair_merged ? 0.0 : kHidden);
        }
        for (int64_t m = 0; m < np; ++m) {
          const bool vis = merged[size_t(r * np + m)] && t >= 2 * m + 1;
          mm[(r * Tq + i) * np + m] = T(vis ? std::log(2.0) : kHidden);
          saved += vis;
        }
      }
  });
  for (char m : merged) n_merged += m;
  if (stats) *stats = AtmStats{B * H * np, n_merged, full, full - saved};

  const double scale = 1.0 / std::sqrt(double(D));
  const Var s = matmul(q, transpose(k, 2, 3)) * scale + Var(mask_o);  // [B, H, Tq, Tk]
  if (np == 0) {
    const Var p = softmax(s, 3);
    if (attention_probe_active()) report_attention(p.value());
    return matmul(p, v);
  }
  // Merged entries: the mean of each pair's keys and values.
  const Var kb = mean(reshape(narrow(k, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var vb = mean(reshape(narrow(v, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var sm = matmul(q, transpose(kb, 2, 3)) * scale + Var(mask_m);  // [B, H, Tq, np]
  const Var p = softmax(concat({s, sm}, 3), 3);
  if (attention_probe_active()) {  // the weights over the tokens: a merged pair's weight split between its two
    Tensor eff = narrow(p, 3, 0, Tk).value().to(DType::F64).contiguous();
    const Tensor pm = narrow(p, 3, Tk, np).value().to(DType::F64).contiguous();
    double* e = eff.data<double>();
    const double* m = pm.data<double>();
    for (int64_t r = 0; r < B * H * Tq; ++r)
      for (int64_t j = 0; j < 2 * np; ++j) e[r * Tk + j] += 0.5 * m[r * np + j / 2];
    report_attention(eff);
  }
  return matmul(narrow(p, 3, 0, Tk), v) + matmul(narrow(p, 3, Tk, np), vb);
}

// ------------------------------------------------------------------ (iii) ATM, greedy merge + unmerge
std::vector<char> greedy_merge_plan(const Tensor& u, double threshold) {
  LOUPE_CHECK(u.dim() == 3, "greedy_merge_plan: u must be [B, T, d], got ", u.str());
  const int64_t B = u.size(0), T = u.size(1), d = u.size(2);
  const Tensor ud = u.to(DType::F64).contiguous();
  const double* pu = ud.data<double>();
  std::vector<char> first(size_t(B * T), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < T; ++t) {  // after a merge of (t, t+1) the scan goes on at t+2
      const double *x = pu + (b * T + t) * d, *y = x + d;
      double xy = 0, xx = 0, yy = 0;
      for (int64_t e = 0; e < d; ++e) xy += x[e] * y[e], xx += x[e] * x[e], yy += y[e] * y[e];
      if (xx > 0 && yy > 0 && xy >= threshold * std::sqrt(xx * yy)) first[size_t(b * T + t)] = 1, ++t;
    }
  return first;
}

Var attention_hiding_keys(const Var& q, const Var& k, const Var& v, const std::vector<char>& hidden) {
  LOUPE_CHECK(q.dim() == 4 && k.dim() == 4 && v.shape() == k.shape() && q.size(0) == k.size(0) &&
                  q.size(1) == k.size(1) && q.size(3) == k.size(3) && q.size(2) <= k.size(2),
              "attention_hiding_keys: q ", q.value().str(), ", k ", k.value().str(), ", v ", v.value().str(),
              " must be [B, H, Tq, D] and [B, H, Tk >= Tq, D]");
  const int64_t B = q.size(0), Tq = q.size(2), Tk = k.size(2), off = Tk - Tq;
  LOUPE_CHECK(int64_t(hidden.size()) == B * Tk, "attention_hiding_keys: hidden has ", hidden.size(),
              " entries for ", B, " x ", Tk, " keys");
  Tensor mask = Tensor::empty({B, 1, Tq, Tk}, q.dtype());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j)
        mask.set({b, 0, i, j}, j <= off + i && !hidden[size_t(b * Tk + j)] ? 0.0 : kHidden);
  const Var s = matmul(q, transpose(k, 2, 3)) * (1.0 / std::sqrt(double(q.size(3)))) + Var(mask);
  const Var p = softmax(s, 3);
  if (attention_probe_active()) report_attention(p.value());
  return matmul(p, v);
}

// ------------------------------------------------------------------ modules
namespace {

// (iv) DSFF: y = B + σ(γ) ⊙ (A − B)  (= σ(γ) A + (1 − σ(γ)) B); stream B is w1/w2 (GELU, release)
// or w1/w2/w3 (SwiGLU, balanced).
class Dsff : public nn::FeedForward {
 public:
  explicit Dsff(const WiolaConfig& c) {
    const int64_t d = c.n_embd, ha = c.dsff_hidden_a, hb = c.dsff_hidden_b;
    gelu_up = register_module("gelu_up", std::make_shared<nn::Linear>(d, ha, false, c.dtype));
    gelu_down = register_module("gelu_down", std::make_shared<nn::Linear>(ha, d, false, c.dtype));
    w1 = register_module("w1", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    w2 = register_module("w2", std::make_shared<nn::Linear>(hb, d, false, c.dtype));
    if (c.dsff_widths == "balanced") w3 = register_module("w3", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    gate = register_parameter("gate", Tensor::zeros({d}, c.dtype));
    drop = register_module("drop", std::make_shared<nn::Dropout>(c.dropout));
  }
  Var forward(const Var& u) const override {
    return drop(dual_stream_ff(u, gelu_up->weight, gelu_down->weight, w1->weight, w2->weight,
                               w3 ? w3->weight : Var(), gate));
  }
  nn::Child<nn::Linear> gelu_up, gelu_down, w1, w2, w3;
  nn::Child<nn::Dropout> drop;
  Var gate;
};

// (ii) GCLA: a query from the layer's normalised input attends over the summaries s_k = C_k h_{l−k}
// (k = 1, 2) of every position ≤ t (causal_cache) or of its own position (same_position); the
// result, projected back, enters through σ(β).
class Gcla : public nn::Module {
 public:
  explicit Gcla(const WiolaConfig& c) : causal(c.gcla_mode == "causal_cache"), rank(c.gcla_rank) {
    const int64_t d = c.n_embd, r = c.gcla_rank;
    query = register_module("query", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress1 = register_module("compress1", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress2 = register_module("compress2", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    out = register_module("out", std::make_shared<nn::Linear>(r, d, false, c.dtype));
    gate = register_parameter("gate", Tensor::full({d}, c.gcla_gate_init, c.dtype));
  }
  // summaries: the decode cache of this layer's s1 (as k) and s2 (as v), [B, max_len, 1, r]; or null.
  Var forward(const Var& u, const Var& h1, const Var& h2, nn::KVCache* summaries) const {
    if (!causal) return gated_cross_layer(u, h1, h2, query->weight, compress1->weight, compress2->weight, out->weight, gate);
    if (!summaries)
      return gated_cross_layer_causal(u, h1, h2, query->weight, compress1->weight, compress2->weight, out->weight, gate);
    // Decoding: append this step's summaries, then attend over all cached ones.
    const int64_t B = u.size(0), T = u.size(1);
    const Var q = query(u);
    const Var s1 = compress1(h1);
    const Var s2 = compress2(h2);
    auto [c1, c2] = summaries->append(reshape(s1, {B, T, 1, rank}).value(), reshape(s2, {B, T, 1, rank}).value(), "GCLA");
    const int64_t len = c1.size(1);
    return gcla_causal_attend(q, Var(c1.reshape({B, len, rank})), Var(c2.reshape({B, len, rank})), out->weight, gate);
  }
  std::unique_ptr<nn::KVCache> make_cache(int64_t batch, int64_t max_len, DType dt) const {
    return std::make_unique<nn::KVCache>(Tensor::zeros({batch, max_len, 1, rank}, dt),
                                         Tensor::zeros({batch, max_len, 1, rank}, dt));
  }
  bool causal;
  int64_t rank;
  nn::Child<nn::Linear> query, compress1, compress2, out;
  Var gate;
};

// A Wiola layer's decode state: the attention's keys and values, and (causal GCLA) the summaries.
struct WiolaLayerCache : nn::LayerCache {
  std::unique_ptr<nn::KVCache> attention, summaries;
  int64_t bytes() const override { return attention->bytes() + (summaries ? summaries->bytes() : 0); }
};

// The baseline attention (same c_attn / c_proj) with SRPE for rotate and/or ATM for attend.
class WiolaAttention : public nn::CausalSelfAttention {
 public:
  WiolaAttention(const WiolaConfig& c, bool use_atm_)
      : CausalSelfAttention(LlamaBlock::attention_config(c), c.dtype), wcfg(c), use_atm(use_atm_),
        greedy(use_atm_ && c.atm_mode == "greedy_unmerge") {
    bands = c.srpe ? SrpeBands::of(c, head_dim) : SrpeBands{head_dim / 2, 0, 0};
    // One helix α per key/value head, shared by the query heads of its group, so a query and the
    // keys it reads turn alike (with n_kv_head = n_head: one per head).
    if (c.srpe) srpe_alpha = register_parameter("srpe_alpha", Tensor::zeros({n_kv}, c.dtype));
  }
  WiolaConfig wcfg;
  bool use_atm, greedy;
  SrpeBands bands;
  Var srpe_alpha;
  mutable AtmStats stats;  // of the last call (a statistic, not state)
  // greedy_unmerge: the key columns (second copies of merged pairs) hidden during the layer's
  // current forward, [B·T]; null outside it (then the layer runs plain causal attention).
  mutable const std::vector<char>* greedy_hidden = nullptr;

 protected:
  Var rotate(const Var& x, int64_t pos0) const override {
    if (!wcfg.srpe) return CausalSelfAttention::rotate(x, pos0);
    Var alpha = srpe_alpha;  // [Hkv]; queries: each head takes its group's α
    if (x.size(2) != n_kv) alpha = reshape(expand(unsqueeze(alpha, 1), {n_kv, x.size(2) / n_kv}), {x.size(2)});
    return srpe_rotate(x, pos0, alpha, bands, wcfg.srpe_segment, wcfg.block_size, wcfg.rope_base);
  }
  Var attend(const Var& q, const Var& k, const Var& v, int64_t pos0) const override {
    if (!use_atm || (greedy && !greedy_hidden)) return CausalSelfAttention::attend(q, k, v, pos0);
    const int64_t B = k.size(0), H = q.size(1), Tk = k.size(2), D = k.size(3);
    Var kt = k, vt = v;
    if (n_kv != H) {  // grouped-query: give every query head its kv head
      const int64_t G = H / n_kv;
      kt = reshape(expand(unsqueeze(k, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
      vt = reshape(expand(unsqueeze(v, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
    }
    if (greedy) return attention_hiding_keys(q, kt, vt, *greedy_hidden);
    return atm_attention(q, kt, vt, pos0, wcfg.atm_threshold, &stats);
  }
};

// ATM greedy_unmerge around one attention call (training only): u' = M u averages each merged pair
// (t, t+1) into both rows; attention runs with the second copies' key columns hidden, so the merged
// token is one entry; then y' = G y copies the merged row t's output to t+1 (unmerge restoration).
// M and G are constant [B, T, T] matrices, so gradients flow through the averaging and the copy.
// `call` is the layer's attention child (so the call keeps its module path), `attn` the same module.
Var greedy_unmerge_attention(const nn::Child<nn::CausalSelfAttention>& call, const WiolaAttention& attn, const Var& u) {
  const int64_t B = u.size(0), T = u.size(1), H = attn.cfg.n_head;
  const std::vector<char> first = greedy_merge_plan(u.value(), attn.wcfg.atm_threshold);
  std::vector<char> hidden(size_t(B * T), 0);
  Tensor M = Tensor::zeros({B, T, T}, u.dtype()), G = Tensor::zeros({B, T, T}, u.dtype());
  int64_t merged = 0, entries = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t kept = 0;
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      if (first[i]) {
        for (int64_t r : {t, t + 1}) M.set({b, r, t}, 0.5), M.set({b, r, t + 1}, 0.5), G.set({b, r, t}, 1.0);
        hidden[i + 1] = 1, ++merged, ++kept, ++t;
      } else {
        M.set({b, t, t}, 1.0), G.set({b, t, t}, 1.0), ++kept;
      }
    }
    entries += kept * (kept + 1) / 2;
  }
  attn.stats = AtmStats{B * H * (T / 2), H * merged, B * H * T * (T + 1) / 2, H * entries};
  const Var averaged = matmul(Var(M), u);
  attn.greedy_hidden = &hidden;
  Var y;
  try {
    y = call(averaged, nullptr);
  } catch (...) {
    attn.greedy_hidden = nullptr;
    throw;
  }
  attn.greedy_hidden = nullptr;
  return matmul(Var(G), y);
}

// x = x + Attn(attention_norm(x));  [x = x + GCLA];  x = x + FFN(ffn_norm(x))
class WiolaLayer : public DecoderBlock {
 public:
  WiolaLayer(const WiolaConfig& c, int64_t layer) {
    attention_norm = register_module("attention_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype,
                                                                                     c.offset_norm));
    if (c.srpe || c.atm_layer(layer))
      attention = register_module("attention", std::make_shared<WiolaAttention>(c, c.atm_layer(layer)));
    else  // the baseline's own attention module
      attention = register_module("attention", std::make_shared<nn::CausalSelfAttention>(LlamaBlock::attention_config(c), c.dtype));
    if (c.gcla && layer >= 1) gcla = register_module("gcla", std::make_shared<Gcla>(c));
    ffn_norm = register_module("ffn_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype, c.offset_norm));
    if (c.dsff) feed_forward = register_module("feed_forward", std::make_shared<Dsff>(c));
    else feed_forward = register_module("feed_forward", std::make_shared<nn::SwiGLU>(c.n_embd, c.ffn_hidden, c.dropout, c.dtype));
  }
  std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dt) const override {
    auto c = std::make_unique<WiolaLayerCache>();
    c->attention = attention->make_cache(batch, max_len, dt);
    if (gcla && gcla->causal) c->summaries = gcla->make_cache(batch, max_len, dt);
    return c;
  }
  // GCLA reads the outputs of the two layers before: the inputs of this layer and the one before it.
  Var forward(const Var& x_in, const BlockInput& in) override {
    auto* cache = static_cast<WiolaLayerCache*>(in.cache);
    const Var u = attention_norm(x_in);
    const WiolaAttention* a = atm();
    const Var att = a && a->greedy && is_training() && !cache ? greedy_unmerge_attention(attention, *a, u)
                                                             : attention(u, cache ? cache->attention.get() : nullptr);
    Var x = x_in + att;
    if (gcla) {
      const Var g = gcla(u, (*in.history)[size_t(in.layer)], (*in.history)[size_t(in.layer) - 1],
                         cache ? cache->summaries.get() : nullptr);
      x = x + g;
    }
    return x + feed_forward(ffn_norm(x));
  }
  const WiolaAttention* atm() const {
    auto* a = dynamic_cast<const WiolaAttention*>(attention.ptr().get());
    return a && a->use_atm ? a : nullptr;
  }
  nn::Child<nn::Norm> attention_norm, ffn_norm;
  nn::Child<nn::CausalSelfAttention> attention;
  nn::Child<Gcla> gcla;
  nn::Child<nn::FeedForward> feed_forward;
};

DecoderSpec wiola_spec(const WiolaConfig& c) {
  DecoderSpec s = c.spec("wiola");
  s.norm_bias = c.offset_norm;  // the final norm is a WiolaRMSNorm too
  return s;
}

}  // namespace

WiolaModel::WiolaModel(const WiolaConfig& config) : ConfiguredDecoder(config, wiola_spec(config)) {
  cfg_.resolve();
  for (int64_t i = 0; i < cfg_.n_layer; ++i) add_block(std::make_shared<WiolaLayer>(cfg_, i));
  // llama's init, keyed by name: N(0, 0.02), residual projections N(0, 0.02/√(2L)).
  init_nanogpt(cfg_.seed, cfg_.n_layer,
               {"attention.c_proj.weight", "feed_forward.w2.weight", "feed_forward.gelu_down.weight", "gcla.out.weight"});
}

std::vector<AtmStats> WiolaModel::atm_stats() const {
  std::vector<AtmStats> out;
  for (size_t l = 0; l < n_layers(); ++l) {
    auto* a = static_cast<const WiolaLayer&>(*block(l)).atm();
    out.push_back(a ? a->stats : AtmStats{});
  }
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

namespace {
const ModelRegistrar registrar = ModelRegistrar::of<WiolaModel, WiolaConfig>(
    "wiola", "LLaMA + WiolaRMSNorm, DSFF, SRPE, GCLA, ATM, each a switch (all off = llama)");
}  // namespace

}  // namespace loupe::models
