// ELiTA's Attention2 core (tensor/kernels/elita_attention.cpp, autograd/ops/elita_attention.cpp):
// stabilised O(n) scan vs the naive O(n²) masked softmax in f64, overflow-prone inputs, causality,
// running a sequence in pieces (generation) vs in one go, strided inputs, threads, misuse.
#include <algorithm>
#include <cmath>
#include <array>
#include <limits>

#include "autograd/ops.h"
#include "autograd/ops/elita_attention.h"
#include "models/elita.h"
#include "nn/safetensors.h"
#include "optim/adam.h"
#include "tensor/parallel.h"
#include "tests/model_testing.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;
using loupe::testing::loss_of;
using loupe::testing::rand64;
using loupe::testing::random_ids;

namespace {

// The definition, written plainly: for each (b, h, i) the softmax over the logits
// {d_i} ∪ {g_i + a_j : j ≤ i} (max subtracted, f64) weights the values {v_i} ∪ {v_j}.
Tensor naive_elita(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v) {
  const int64_t B = v.size(0), T = v.size(1), H = v.size(2), D = v.size(3);
  Tensor y = Tensor::zeros({B, T, H, D}, DType::F64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> logit{d.at({b, i, h})};
        std::vector<int64_t> src{i};
        for (int64_t j = 0; j <= i; ++j) logit.push_back(g.at({b, i, h}) + a.at({b, j, h})), src.push_back(j);
        double mx = -std::numeric_limits<double>::infinity(), z = 0;
        for (double l : logit) mx = std::max(mx, l);
        for (double l : logit) z += std::exp(l - mx);
        for (int64_t k = 0; k < D; ++k) {
          double acc = 0;
          for (size_t e = 0; e < logit.size(); ++e) acc += std::exp(logit[e] - mx) / z * v.at({b, src[e], h, k});
          y.set({b, i, h, k}, acc);
        }
      }
  return y;
}

// The author's formula taken literally (no stabilisation), in f32: overflows for large logits.
Tensor literal_f32(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v) {
  const int64_t B = v.size(0), T = v.size(1), H = v.size(2), D = v.size(3);
  Tensor y = Tensor::zeros({B, T, H, D}, DType::F32);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> num(size_t(D), 0.f);
      float den = 0;
      for (int64_t i = 0; i < T; ++i) {
        const float X = std::exp(float(a.at({b, i, h}))), G = std::exp(float(g.at({b, i, h})));
        const float Dg = std::exp(float(d.at({b, i, h})));
        den += X;
        for (int64_t k = 0; k < D; ++k) {
          num[size_t(k)] += X * float(v.at({b, i, h, k}));
          y.set({b, i, h, k}, (Dg * float(v.at({b, i, h, k})) + G * num[size_t(k)]) / (Dg + G * den));
        }
      }
    }
  return y;
}

struct Inputs {
  Tensor a, g, d, v;
};
Inputs make(int64_t B, int64_t T, int64_t H, int64_t D, double lo, double hi, uint64_t seed, DType dt) {
  return {rand64({B, T, H}, seed, lo, hi).to(dt), rand64({B, T, H}, seed + 1, lo, hi).to(dt),
          rand64({B, T, H}, seed + 2, lo, hi).to(dt), rand64({B, T, H, D}, seed + 3).to(dt)};
}

}  // namespace

TEST(ElitaAttention, MatchesNaiveMaskedSoftmaxAwkwardShapes) {
  for (auto [B, T, H, D] : std::vector<std::array<int64_t, 4>>{{1, 1, 1, 1}, {1, 7, 3, 5}, {2, 17, 2, 3},
                                                               {3, 31, 1, 7}, {1, 65, 4, 16}}) {
    SCOPED_TRACE(shape_str({B, T, H, D}));
    Inputs in = make(B, T, H, D, -3, 3, uint64_t(B * 1000 + T), DType::F64);
    Tensor ref = naive_elita(in.a, in.g, in.d, in.v);
    EXPECT_TRUE(all_close(elita_attention_forward(in.a, in.g, in.d, in.v).y, ref, 1e-12, 1e-12));
    // f32 against the f64 reference.
    Tensor y32 = elita_attention_forward(in.a.to(DType::F32), in.g.to(DType::F32), in.d.to(DType::F32),
                                         in.v.to(DType::F32)).y;
    EXPECT_EQ(y32.dtype(), DType::F32);
    EXPECT_TRUE(all_close(y32.to(DType::F64), ref, 1e-4, 1e-5));
  }
}

TEST(ElitaAttention, LargeLogitsDoNotOverflow) {
  // Logits around 100 (e^100 > FLT_MAX): the literal f32 formula gives inf/nan, the
  // stabilised f32 scan matches the f64 naive softmax. Also a wide spread (−400..400) in f64.
  Inputs in = make(2, 33, 2, 8, 90, 110, 7, DType::F64);
  Tensor lit = literal_f32(in.a, in.g, in.d, in.v);
  bool bad = false;
  for (double x : lit.to_vector()) bad = bad || !std::isfinite(x);
  EXPECT_TRUE(bad) << "test inputs do not overflow the literal f32 formula";
  Tensor ref = naive_elita(in.a, in.g, in.d, in.v);
  Tensor y32 = elita_attention_forward(in.a.to(DType::F32), in.g.to(DType::F32), in.d.to(DType::F32),
                                       in.v.to(DType::F32)).y;
  EXPECT_TRUE(all_close(y32.to(DType::F64), ref, 1e-4, 1e-5));

  Inputs wide = make(1, 40, 3, 4, -400, 400, 99, DType::F64);
  EXPECT_TRUE(all_close(elita_attention_forward(wide.a, wide.g, wide.d, wide.v).y,
                        naive_elita(wide.a, wide.g, wide.d, wide.v), 1e-10, 1e-12));
  // Backward stays finite for the large logits too.
  ElitaForwardResult r = elita_attention_forward(in.a.to(DType::F32), in.g.to(DType::F32), in.d.to(DType::F32),
                                                 in.v.to(DType::F32));
  ElitaGrads gr = elita_attention_backward(in.a.to(DType::F32), in.g.to(DType::F32), in.d.to(DType::F32),
                                           in.v.to(DType::F32), r.y, r.lse, Tensor::ones(r.y.shape()));
  for (const Tensor* t : {&gr.da, &gr.dg, &gr.dd, &gr.dv})
    for (double x : t->to_vector()) ASSERT_TRUE(std::isfinite(x));
}

TEST(ElitaAttention, Causal) {
  // Changing anything at position t+1.. never changes outputs 0..t.
  Inputs in = make(2, 12, 2, 4, -2, 2, 5, DType::F64);
  Tensor y0 = elita_attention_forward(in.a, in.g, in.d, in.v).y;
  for (int64_t t : {0, 4, 10}) {
    Inputs p{in.a.clone(), in.g.clone(), in.d.clone(), in.v.clone()};
    for (int64_t s = t + 1; s < 12; ++s)
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t h = 0; h < 2; ++h) {
          p.a.set({b, s, h}, 5.0 + s), p.g.set({b, s, h}, -3.0), p.d.set({b, s, h}, 7.0);
          for (int64_t k = 0; k < 4; ++k) p.v.set({b, s, h, k}, 100.0);
        }
    Tensor y1 = elita_attention_forward(p.a, p.g, p.d, p.v).y;
    EXPECT_TRUE(bitwise_equal(y1.narrow(1, 0, t + 1).contiguous(), y0.narrow(1, 0, t + 1).contiguous()));
    EXPECT_FALSE(all_close(y1.narrow(1, t + 1, 1).contiguous(), y0.narrow(1, t + 1, 1).contiguous()));
  }
}

TEST(ElitaAttention, PiecewiseWithStateEqualsOneGoBitwise) {
  // What generation does: carry (m, S, N) from chunk to chunk, one token at a time or in pieces.
  Inputs in = make(2, 23, 3, 5, -4, 4, 17, DType::F32);
  Tensor full = elita_attention_forward(in.a, in.g, in.d, in.v).y;
  for (int64_t step : {1, 5}) {
    ElitaState st = ElitaState::empty(2, 3, 5, DType::F32);
    std::vector<Tensor> parts;
    for (int64_t t = 0; t < 23; t += step) {
      const int64_t len = std::min<int64_t>(step, 23 - t);
      parts.push_back(elita_attention_forward(in.a.narrow(1, t, len), in.g.narrow(1, t, len),
                                              in.d.narrow(1, t, len), in.v.narrow(1, t, len), &st).y);
    }
    Tensor joined = Tensor::empty(full.shape(), DType::F32);
    int64_t t = 0;
    for (auto& p : parts) joined.narrow(1, t, p.size(1)).copy_(p), t += p.size(1);
    EXPECT_TRUE(bitwise_equal(joined, full)) << "step " << step;
    EXPECT_EQ(st.bytes(), (2 * 3 * 2 + 2 * 3 * 5) * 4);
  }
}

TEST(ElitaAttention, StridedInputsMatchContiguous) {
  // Logits as slices of one [B, T, 3H] projection; values as a permuted, sliced view.
  Tensor proj = rand64({2, 9, 6}, 3, -2, 2);
  Tensor vbig = rand64({2, 4, 9, 5}, 4).permute({0, 2, 1, 3}).narrow(2, 1, 2);  // [2, 9, 2, 5], strided
  Tensor a = proj.narrow(2, 0, 2), g = proj.narrow(2, 2, 2), d = proj.narrow(2, 4, 2);
  ASSERT_FALSE(a.is_contiguous());
  ASSERT_FALSE(vbig.is_contiguous());
  ElitaForwardResult s = elita_attention_forward(a, g, d, vbig);
  ElitaForwardResult c = elita_attention_forward(a.contiguous(), g.contiguous(), d.contiguous(), vbig.contiguous());
  EXPECT_TRUE(bitwise_equal(s.y, c.y));
  Tensor gy = rand64({2, 9, 2, 5}, 8);
  ElitaGrads gs = elita_attention_backward(a, g, d, vbig, s.y, s.lse, gy.transpose(0, 1).contiguous().transpose(0, 1));
  ElitaGrads gc = elita_attention_backward(a.contiguous(), g.contiguous(), d.contiguous(), vbig.contiguous(), c.y,
                                           c.lse, gy);
  EXPECT_TRUE(bitwise_equal(gs.da, gc.da));
  EXPECT_TRUE(bitwise_equal(gs.dv, gc.dv));
  EXPECT_TRUE(bitwise_equal(gs.dd, gc.dd));
}

TEST(ElitaAttention, BackwardMatchesNaiveGradientOfLargeLogitsF32) {
  // The f32 backward at logits ~100 against the f64 backward (itself gradchecked in f64).
  Inputs in = make(1, 19, 2, 6, 80, 100, 23, DType::F64);
  Tensor gy = rand64({1, 19, 2, 6}, 29);
  ElitaForwardResult r64 = elita_attention_forward(in.a, in.g, in.d, in.v);
  ElitaGrads g64 = elita_attention_backward(in.a, in.g, in.d, in.v, r64.y, r64.lse, gy);
  auto f = [](const Tensor& t) { return t.to(DType::F32); };
  ElitaForwardResult r32 = elita_attention_forward(f(in.a), f(in.g), f(in.d), f(in.v));
  ElitaGrads g32 = elita_attention_backward(f(in.a), f(in.g), f(in.d), f(in.v), r32.y, r32.lse, f(gy));
  EXPECT_TRUE(all_close(g32.dv.to(DType::F64), g64.dv, 1e-3, 1e-4));
  EXPECT_TRUE(all_close(g32.da.to(DType::F64), g64.da, 1e-3, 1e-4));
  EXPECT_TRUE(all_close(g32.dd.to(DType::F64), g64.dd, 1e-3, 1e-4));
}

TEST(ElitaAttention, OpGradcheck) {
  Inputs in = make(2, 13, 2, 3, -2, 2, 77, DType::F64);
  EXPECT_TRUE(loupe::testing::gradcheck_ok(
      [](const std::vector<Var>& x) { return elita_attention(x[0], x[1], x[2], x[3]); }, {in.a, in.g, in.d, in.v}));
}

TEST(ElitaAttention, ThreadCountDoesNotChangeBits) {
  // 32 (batch, head) sequences of 64 tokens: several parallel chunks.
  Inputs in = make(4, 64, 8, 16, -3, 3, 55, DType::F32);
  Tensor gy = rand64({4, 64, 8, 16}, 56).to(DType::F32);
  set_num_threads(1);
  ElitaForwardResult r1 = elita_attention_forward(in.a, in.g, in.d, in.v);
  ElitaGrads g1 = elita_attention_backward(in.a, in.g, in.d, in.v, r1.y, r1.lse, gy);
  set_num_threads(2);
  ElitaForwardResult r2 = elita_attention_forward(in.a, in.g, in.d, in.v);
  ElitaGrads g2 = elita_attention_backward(in.a, in.g, in.d, in.v, r2.y, r2.lse, gy);
  EXPECT_TRUE(bitwise_equal(r1.y, r2.y));
  EXPECT_TRUE(bitwise_equal(g1.da, g2.da));
  EXPECT_TRUE(bitwise_equal(g1.dv, g2.dv));
}

TEST(ElitaAttention, MisuseThrows) {
  Inputs in = make(1, 4, 2, 3, -1, 1, 1, DType::F32);
  try {
    elita_attention_forward(in.a.narrow(1, 0, 3), in.g, in.d, in.v);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("elita_attention"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[1, 3, 2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(elita_attention_forward(in.a, in.g, in.d, in.v.to(DType::F64)), Error);
  EXPECT_THROW(elita_attention_forward(in.a, in.g, in.d, in.v.narrow(3, 0, 1).squeeze(3)), Error);
  ElitaState wrong = ElitaState::empty(1, 3, 3, DType::F32);
  EXPECT_THROW(elita_attention_forward(in.a, in.g, in.d, in.v, &wrong), Error);
}

// ====================================================================== the ELiTA model
namespace {

models::ElitaConfig tiny_elita(DType dt) {
  models::ElitaConfig c;
  c.vocab_size = 11;
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.head_width = 3;
  c.pos_width = 4;
  c.ff_scale = 3;
  c.dtype = dt;
  return c;
}

// Attention2 written as the O(n²) definition: for each head, the softmax over
// {k2·x_i} ∪ {k1·x_j + c·sin(p_j a1 + b1) + c·sin(p_i a2 + b2) + k3·x_i : j ≤ i}, p = pos / n
// (pos / (n − 1) with pos_scale "n-1"; no k3·x_i without the query term; with logit_clip each
// group — key side, diagonal, query side — clipped to [−clip, clip], as the author's code).
Tensor naive_attention2(const Tensor& x, const models::ElitaAttentionWeights& w, const models::ElitaConfig& c,
                        int64_t pos0) {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2), H = c.n_head, d3 = c.head_width, d2 = c.pos_width;
  const Tensor K = w.keys.value(), V = w.value.value(), P = w.proj.value();
  auto dot_k = [&](int64_t r, int64_t h, int64_t b, int64_t t) {
    double s = 0;
    for (int64_t e = 0; e < d; ++e) s += K.at({r, h, e}) * x.at({b, t, e});
    return s;
  };
  const double n = c.pos_scale == "n-1" ? double(c.block_size - 1) : double(c.block_size);
  auto clip = [&](double z) { return c.logit_clip > 0 ? std::clamp(z, -c.logit_clip, c.logit_clip) : z; };
  auto pos = [&](const Var& a, const Var& bb, int64_t h, int64_t t) {
    double s = 0, p = double(pos0 + t) / n;
    for (int64_t k = 0; k < d2; ++k)
      s += w.c.value().at({h, k}) * std::sin(p * a.value().at({h, k}) + bb.value().at({h, k}));
    return s;
  };
  Tensor out = Tensor::zeros({B, T, d}, DType::F64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> heads(size_t(H * d3), 0.0);
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> logit{clip(dot_k(1, h, b, i))};
        std::vector<int64_t> src{i};
        const double query = clip(pos(w.a2, w.b2, h, i) + (c.query_term ? dot_k(2, h, b, i) : 0.0));
        for (int64_t j = 0; j <= i; ++j) {
          logit.push_back(clip(dot_k(0, h, b, j) + pos(w.a1, w.b1, h, j)) + query);
          src.push_back(j);
        }
        double mx = -1e300, z = 0;
        for (double l : logit) mx = std::max(mx, l);
        for (double l : logit) z += std::exp(l - mx);
        for (size_t e = 0; e < logit.size(); ++e) {
          const double p = std::exp(logit[e] - mx) / z;
          for (int64_t k = 0; k < d3; ++k) {
            double vx = 0;
            for (int64_t f = 0; f < d; ++f) vx += V.at({h * d3 + k, f}) * x.at({b, src[e], f});
            heads[size_t(h * d3 + k)] += p * vx;
          }
        }
      }
      for (int64_t o = 0; o < d; ++o) {
        double s = 0;
        for (int64_t k = 0; k < H * d3; ++k) s += P.at({o, k}) * heads[size_t(k)];
        out.set({b, i, o}, s);
      }
    }
  return out;
}

}  // namespace

TEST(ElitaModel, Attention2MatchesNaiveQuadraticDefinition) {
  models::ElitaModel m(tiny_elita(DType::F64));
  Tensor x = rand64({2, 7, 8}, 301, -2, 2);
  for (int64_t pos0 : {0, 5}) {
    Var y = models::elita_attention2(Var(x), m.attention_weights(1), m.cfg(), pos0);
    EXPECT_TRUE(all_close(y.value(), naive_attention2(x, m.attention_weights(1), m.cfg(), pos0), 1e-10, 1e-12));
  }
}

// The author's-code switches (configs/elita-author.json), one at a time and together, against the
// same O(n²) definition; clipping bites here (|logits| up to ~1 with these weights, clip 0.3).
TEST(ElitaModel, AuthorCodeSwitchesMatchTheNaiveDefinition) {
  Tensor x = rand64({2, 7, 8}, 311, -2, 2);
  for (int variant = 0; variant < 4; ++variant) {
    models::ElitaConfig c = tiny_elita(DType::F64);
    if (variant == 0 || variant == 3) c.pos_scale = "n-1";
    if (variant == 1 || variant == 3) c.query_term = false;
    if (variant == 2 || variant == 3) c.logit_clip = 0.3;
    models::ElitaModel m(c);
    auto w = m.attention_weights(1);
    for (int64_t i = 0; i < w.keys.numel(); ++i)  // larger keys, so some groups pass the clip
      w.keys.mutable_value().data<double>()[i] *= 8;
    EXPECT_EQ(w.keys.size(0), c.query_term ? 3 : 2) << variant;
    Var y = models::elita_attention2(Var(x), w, m.cfg(), 3);
    EXPECT_TRUE(all_close(y.value(), naive_attention2(x, w, m.cfg(), 3), 1e-10, 1e-12)) << "variant " << variant;
  }
  // The clip changes the result (it is not a no-op at these logits).
  models::ElitaConfig c = tiny_elita(DType::F64);
  models::ElitaModel m0(c);
  c.logit_clip = 0.3;
  models::ElitaModel m1(c);
  for (auto* m : {&m0, &m1})
    for (int64_t i = 0; i < m->attention_weights(1).keys.numel(); ++i)
      m->attention_weights(1).keys.mutable_value().data<double>()[i] *= 8;
  EXPECT_FALSE(all_close(models::elita_attention2(Var(x), m0.attention_weights(1), m0.cfg(), 3).value(),
                         models::elita_attention2(Var(x), m1.attention_weights(1), m1.cfg(), 3).value(), 1e-6, 1e-6));
}

// Keras' Glorot fans for the author's 3-D kernels: W3 [d, s, d] -> limit sqrt(6 / (s·d + d·d)).
TEST(ElitaModel, KerasInitUsesTheKernelFans) {
  models::ElitaConfig c = tiny_elita(DType::F64);
  c.n_embd = 64;
  c.ff_scale = 8;
  c.n_layer = 1;
  c.init = "keras";
  models::ElitaModel keras(c);
  c.init = "loupe";
  models::ElitaModel plain(c);
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : t.to(DType::F64).to_vector()) m = std::max(m, std::abs(v));
    return m;
  };
  const double lk = max_abs(keras.feedforward_weights(0).w3.value()), lp = max_abs(plain.feedforward_weights(0).w3.value());
  EXPECT_LE(lk, std::sqrt(6.0 / (8 * 64 + 64 * 64)));  // 0.036
  EXPECT_GT(lk, 0.9 * std::sqrt(6.0 / (8 * 64 + 64 * 64)));
  EXPECT_GT(lp, 0.9 * std::sqrt(6.0 / (8 * 64 + 64)));  // 0.102
  const double H = double(c.n_head), d3 = double(c.head_width);
  EXPECT_LE(max_abs(keras.attention_weights(0).value.value()), std::sqrt(6.0 / (H * 64 + H * d3)));
}

TEST(ElitaModel, AuthorSwitchesGradcheckF64) {
  models::ElitaConfig cfg = tiny_elita(DType::F64);
  cfg.pos_scale = "n-1";
  cfg.query_term = false;
  cfg.logit_clip = 0.3;
  models::ElitaModel m(cfg);
  const auto& a = m.attention_weights(0);
  const models::ElitaConfig c = m.cfg();
  Tensor keys = a.keys.value().clone();
  for (int64_t i = 0; i < keys.numel(); ++i) keys.data<double>()[i] *= 8;
  EXPECT_TRUE(loupe::testing::gradcheck_ok(
      [&c](const std::vector<Var>& v) {
        models::ElitaAttentionWeights w{v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
        return models::elita_attention2(v[0], w, c, 2);
      },
      {rand64({2, 5, 8}, 313), keys, a.a1.value(), a.b1.value(), a.a2.value(), a.b2.value(), a.c.value(),
       a.value.value(), a.proj.value()}));
}

TEST(ElitaModel, FeedForward2MatchesLoops) {
  models::ElitaModel m(tiny_elita(DType::F64));
  const auto& w = m.feedforward_weights(0);
  Tensor x = rand64({2, 3, 8}, 302);
  Tensor y = models::elita_feedforward2(Var(x), w).value();
  auto silu_ = [](double z) { return z / (1 + std::exp(-z)); };
  const int64_t d = 8, s = 3;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t k = 0; k < d; ++k) {
        double acc = w.b3.value().at({k});
        for (int64_t i = 0; i < d; ++i) {
          double ui = w.b1.value().at({i});
          for (int64_t e = 0; e < d; ++e) ui += w.w1.value().at({i, e}) * x.at({b, t, e});
          for (int64_t j = 0; j < s; ++j) {
            double vj = w.b2.value().at({j});
            for (int64_t e = 0; e < d; ++e) vj += w.w2.value().at({j, e}) * x.at({b, t, e});
            acc += silu_(ui) * silu_(vj) * w.w3.value().at({i, j, k});
          }
        }
        EXPECT_NEAR(y.at({b, t, k}), acc, 1e-12);
      }
}

TEST(ElitaModel, BlocksGradcheckF64) {
  models::ElitaModel m(tiny_elita(DType::F64));
  const auto& a = m.attention_weights(0);
  const models::ElitaConfig c = m.cfg();
  EXPECT_TRUE(loupe::testing::gradcheck_ok(
      [&c](const std::vector<Var>& v) {
        models::ElitaAttentionWeights w{v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
        return models::elita_attention2(v[0], w, c, 2);
      },
      {rand64({2, 5, 8}, 303), a.keys.value(), a.a1.value(), a.b1.value(), a.a2.value(), a.b2.value(), a.c.value(),
       a.value.value(), a.proj.value()}));
  const auto& f = m.feedforward_weights(1);
  EXPECT_TRUE(loupe::testing::gradcheck_ok(
      [](const std::vector<Var>& v) {
        return models::elita_feedforward2(v[0], {v[1], v[2], v[3], v[4], v[5], v[6]});
      },
      {rand64({2, 3, 8}, 304), f.w1.value(), rand64({8}, 305), f.w2.value(), rand64({3}, 306), f.w3.value(),
       rand64({8}, 307)}));
  EXPECT_TRUE(loupe::testing::gradcheck_ok([](const std::vector<Var>& v) { return models::elita_norm(v[0], 1e-5); },
                                           {rand64({3, 8}, 308)}));
}

TEST(ElitaModel, WholeModelIsCausal) {
  auto c = tiny_elita(DType::F32);
  c.wraps = 2;
  c.logits_ffn_hidden = 6;
  models::ElitaModel m(c);
  Tensor ids = random_ids(2, 12, 11, 310);
  Tensor y0 = m.forward(ids).value();
  for (int64_t t : {0, 6, 10}) {
    Tensor ids2 = ids.clone();
    for (int64_t b = 0; b < 2; ++b) ids2.set({b, t + 1}, double((int64_t(ids.at({b, t + 1})) + 3) % 11));
    Tensor y1 = m.forward(ids2).value();
    EXPECT_TRUE(bitwise_equal(y1.narrow(1, 0, t + 1).contiguous(), y0.narrow(1, 0, t + 1).contiguous()));
    EXPECT_FALSE(bitwise_equal(y1.narrow(1, t + 1, 1).contiguous(), y0.narrow(1, t + 1, 1).contiguous()));
  }
}

TEST(ElitaModel, GenerationFromRunningSumsEqualsRecomputation) {
  for (bool extras : {false, true}) {
    auto c = tiny_elita(DType::F64);
    if (extras) {
      c.wraps = 3;
      c.logits_ffn_hidden = 5;
    }
    models::ElitaModel m(c);
    m.eval();
    Tensor ids = random_ids(2, 14, 11, 311);
    Tensor full = m.forward(ids).value();
    auto cache = m.make_cache(2, 14);
    const int64_t bytes0 = cache->bytes();
    std::vector<Tensor> parts;
    // Two tokens, then one at a time: O(1) state, no KV cache.
    parts.push_back(m.forward_cached(ids.narrow(1, 0, 2), *cache).value());
    for (int64_t t = 2; t < 14; ++t) parts.push_back(m.forward_cached(ids.narrow(1, t, 1), *cache).value());
    EXPECT_EQ(cache->length(), 14);
    EXPECT_EQ(cache->bytes(), bytes0);  // the state does not grow with the sequence
    EXPECT_EQ(bytes0, c.wraps * c.n_layer * (2 * c.n_head * 2 + 2 * c.n_head * c.head_width) * 8);
    Tensor joined = Tensor::empty(full.shape(), DType::F64);
    int64_t t = 0;
    for (auto& p : parts) joined.narrow(1, t, p.size(1)).copy_(p), t += p.size(1);
    EXPECT_TRUE(all_close(joined, full, 1e-10, 1e-12)) << "extras " << extras;
  }
}

TEST(ElitaModel, SaveLoadRoundTrip) {
  auto c = tiny_elita(DType::F32);
  c.wraps = 2;
  c.logits_ffn_hidden = 4;
  models::ElitaModel a(c);
  const std::string path = ::testing::TempDir() + "elita_roundtrip.safetensors";
  nn::save_safetensors(path, a.state_dict());
  c.seed = 99;
  models::ElitaModel b(c);
  Tensor ids = random_ids(1, 9, 11, 312);
  EXPECT_FALSE(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));
  b.load_state_dict(nn::load_safetensors(path));
  EXPECT_TRUE(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));
  // The names say what they are (and the options add their parameters).
  auto sd = a.state_dict();
  for (const char* n : {"transformer.wte.weight", "transformer.h.1.attn.keys", "transformer.h.0.attn.c",
                        "transformer.h.0.attn.value.weight", "transformer.h.0.ff.w3", "transformer.wrap_bias",
                        "logits_ffn.wa"})
    EXPECT_TRUE(sd.count(n)) << n;
  EXPECT_EQ(sd.at("transformer.h.0.ff.w3").shape(), Shape({8, 3, 8}));
  EXPECT_FALSE(models::ElitaModel(tiny_elita(DType::F32)).state_dict().count("transformer.wrap_bias"));
}

TEST(ElitaModel, OverfitsOneBatch) {
  auto c = tiny_elita(DType::F32);
  c.n_embd = 16;
  c.head_width = 8;
  models::ElitaModel m(c);
  Tensor ids = random_ids(2, 16, 11, 313);
  Tensor targets = random_ids(2, 16, 11, 314);
  optim::Adam opt({optim::ParamGroup{m.named_parameters()}});
  opt.set_lr(2e-2);
  const double first = loss_of(m, ids, targets);
  double last = first;
  for (int it = 0; it < 40; ++it) {
    opt.zero_grad();
    Var logits = m.forward(ids);
    Var loss = cross_entropy(reshape(logits, {-1, 11}), targets.reshape({-1}));
    loss.backward();
    opt.step();
    last = loss.item();
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(ElitaModel, RegistryAndConfig) {
  auto m = models::build_model({{"type", "elita"}, {"vocab_size", 11}, {"n_embd", 8}, {"n_head", 2},
                                {"head_width", 4}, {"block_size", 32}});
  EXPECT_EQ(m->vocab_size(), 11);
  EXPECT_EQ(m->block_size(), 32);
  EXPECT_EQ(m->config()["head_width"], 4);
  auto again = models::build_model(m->config());  // the saved config rebuilds the same model
  EXPECT_EQ(again->num_parameters(), m->num_parameters());
  try {
    models::build_model({{"type", "elita"}, {"vocab_size", 11}, {"wrapz", 2}});
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrapz"), std::string::npos);
  }
  EXPECT_THROW(models::build_model({{"type", "elita"}, {"vocab_size", 11}, {"wraps", 0}}), Error);
  // Parameter count: per layer 3Hd + 5Hd2 + 2·d·H·d3 (attention) + d² + d + sd + s + d·s·d + d (FeedForward2).
  const int64_t d = 8, H = 2, d2 = 16, d3 = 4, s = 8, L = 4, V = 11;
  EXPECT_EQ(m->num_parameters(),
            V * d + L * (3 * H * d + 5 * H * d2 + 2 * d * H * d3 + d * d + d + s * d + s + d * s * d + d));
}
