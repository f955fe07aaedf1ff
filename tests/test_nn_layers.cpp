// nn layers and their fused ops against naive f64 loops: LayerNorm, RMSNorm
// (forward + backward kernels, awkward widths, strided inputs), dropout, RoPE,
// Linear, Embedding, MLP, SwiGLU; 1-vs-2-thread bitwise equality; Module
// naming/state dicts; safetensors round trips and corrupt files.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <thread>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "tensor/kernels/dropout.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/rmsnorm.h"
#include "nn/safetensors.h"
#include "nn/swiglu.h"
#include <nlohmann/json.hpp>

#include "tensor/file_io.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;
using loupe::testing::rand64;

namespace {

// Naive f64 LayerNorm / RMSNorm over the last dim, and their gradients for upstream gradient g.
struct NormRef {
  Tensor y, dx, dw, db;
};
NormRef naive_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, bool rms, const Tensor& g) {
  const int64_t C = x.size(-1), R = x.numel() / C;
  auto xv = x.to_vector(), wv = w.to_vector(), gv = g.to_vector();
  std::vector<double> y(xv.size()), dx(xv.size()), dw(size_t(C), 0), db(size_t(C), 0);
  for (int64_t r = 0; r < R; ++r) {
    const double* xr = &xv[size_t(r * C)];
    const double* gr = &gv[size_t(r * C)];
    double mu = 0, var = 0;
    if (!rms) {
      for (int64_t i = 0; i < C; ++i) mu += xr[i] / double(C);
    }
    for (int64_t i = 0; i < C; ++i) var += (xr[i] - mu) * (xr[i] - mu) / double(C);
    const double rs = 1 / std::sqrt(var + eps);
    double m1 = 0, m2 = 0;
    for (int64_t i = 0; i < C; ++i) {
      const double xh = (xr[i] - mu) * rs;
      y[size_t(r * C + i)] = xh * wv[size_t(i)] + (b.defined() ? b.to_vector()[size_t(i)] : 0);
      m1 += gr[i] * wv[size_t(i)] / double(C);
      m2 += gr[i] * wv[size_t(i)] * xh / double(C);
      dw[size_t(i)] += gr[i] * xh;
      db[size_t(i)] += gr[i];
    }
    for (int64_t i = 0; i < C; ++i) {
      const double xh = (xr[i] - mu) * rs;
      dx[size_t(r * C + i)] = rs * (gr[i] * wv[size_t(i)] - (rms ? 0 : m1) - xh * m2);
    }
  }
  return {Tensor::from_vector(y, x.shape(), DType::F64), Tensor::from_vector(dx, x.shape(), DType::F64),
          Tensor::from_vector(dw, {C}, DType::F64), Tensor::from_vector(db, {C}, DType::F64)};
}

}  // namespace

// ------------------------------------------------------------------ norms
TEST(Norms, MatchNaiveReferenceForwardAndBackward) {
  uint64_t seed = 100;
  for (bool rms : {false, true})
    for (DType dt : {DType::F64, DType::F32})
      for (int64_t C : {1, 3, 7, 17, 31, 65, 127})
        for (int64_t R : {1, 5, 33}) {
          SCOPED_TRACE(::testing::Message() << (rms ? "rms" : "layer") << " C=" << C << " R=" << R << " "
                                            << dtype_name(dt));
          // An offset mean (3) makes a naive one-pass variance lose digits; the shifted sums must not.
          Tensor x = rand64({R, C}, seed++, 2, 4), w = rand64({C}, seed++), b = rand64({C}, seed++);
          Tensor g = rand64({R, C}, seed++);
          NormRef ref = naive_norm(x, w, rms ? Tensor() : b, 1e-5, rms, g);
          Var vx(x.to(dt), true), vw(w.to(dt), true), vb(b.to(dt), true);
          Var y = rms ? rms_norm(vx, vw, 1e-5) : layer_norm(vx, vw, vb, 1e-5);
          y.backward(g.to(dt));
          const double tol = dt == DType::F64 ? 1e-9 : 3e-4;
          EXPECT_TRUE(all_close(y.value().to(DType::F64), ref.y, tol, tol));
          EXPECT_TRUE(all_close(vx.grad().to(DType::F64), ref.dx, tol, tol));
          EXPECT_TRUE(all_close(vw.grad().to(DType::F64), ref.dw, tol, tol));
          if (!rms) {
            EXPECT_TRUE(all_close(vb.grad().to(DType::F64), ref.db, tol, tol));
          }
        }
}

TEST(Norms, StridedInputAndNoBias) {
  Tensor base = rand64({9, 2, 5}, 7);
  Tensor x = base.transpose(0, 2);  // [5, 2, 9], non-contiguous
  Tensor w = rand64({9}, 8);
  NormRef ref = naive_norm(x.contiguous(), w, Tensor(), 1e-5, false, Tensor::ones(x.shape(), DType::F64));
  EXPECT_TRUE(all_close(layer_norm(Var(x), Var(w), Var()).value(), ref.y, 1e-10, 1e-10));
}

TEST(Norms, OneAndTwoThreadsBitwiseEqual) {
  Tensor x = Tensor::uniform({300, 96}, -2, 2, 1), w = Tensor::uniform({96}, 0, 1, 2), b = Tensor::uniform({96}, 0, 1, 3);
  Tensor g = Tensor::uniform({300, 96}, -1, 1, 4);
  for (bool rms : {false, true}) {
    Tensor out[2], dx[2], dw[2];
    for (int n : {1, 2}) {
      set_num_threads(n);
      Var vx(x, true), vw(w, true), vb(b, true);
      Var y = rms ? rms_norm(vx, vw) : layer_norm(vx, vw, vb);
      y.backward(g);
      out[n - 1] = y.value(), dx[n - 1] = vx.grad(), dw[n - 1] = vw.grad();
    }
    set_num_threads(2);
    EXPECT_TRUE(bitwise_equal(out[0], out[1]));
    EXPECT_TRUE(bitwise_equal(dx[0], dx[1]));
    EXPECT_TRUE(bitwise_equal(dw[0], dw[1]));
  }
}

TEST(Norms, Errors) {
  Var x(Tensor::zeros({4, 8})), w(Tensor::zeros({7}));
  try {
    layer_norm(x, w, Var());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer_norm"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4, 8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rms_norm(x, w), Error);
  EXPECT_THROW(layer_norm(x, Var(Tensor::zeros({8})), Var(Tensor::zeros({8}, DType::F64))), Error);
}

// ------------------------------------------------------------------ dropout
TEST(Dropout, DropsAboutPScalesSurvivorsAndIsReproducible) {
  Tensor x = Tensor::ones({1000, 10});
  Tensor a = dropout(Var(x), 0.3, 5, 1).value(), b = dropout(Var(x), 0.3, 5, 1).value();
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_FALSE(bitwise_equal(a, dropout(Var(x), 0.3, 5, 2).value()));
  int64_t zeros = 0;
  for (double v : a.to_vector()) {
    if (v == 0) ++zeros;
    else EXPECT_FLOAT_EQ(v, 1 / 0.7);
  }
  EXPECT_NEAR(double(zeros) / 10000.0, 0.3, 0.02);
  // Backward applies the same mask.
  Var vx(x, true);
  Var y = dropout(vx, 0.3, 5, 1);
  y.backward(Tensor::ones(x.shape()));
  EXPECT_TRUE(bitwise_equal(vx.grad(), a));
  // Thread count does not change the mask.
  set_num_threads(1);
  Tensor c = dropout(Var(x), 0.3, 5, 1).value();
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(a, c));
  EXPECT_THROW(dropout(Var(x), 1.0, 0, 0), Error);
  // The mask is the documented one (tensor/kernels/dropout.h): element i kept iff word i of the
  // (seed, counter) Philox stream >= p·2³², also across chunk ends and in a ragged tail.
  const Tensor big = Tensor::ones({3, 4099});
  const auto kept = dropout(Var(big), 0.45, 77, 9).value().to_vector();
  kernels::DropoutMask mask(77, 9, 0.45);
  for (size_t i = 0; i < kept.size(); ++i) ASSERT_EQ(kept[i] != 0, mask.keep(uint64_t(i))) << "element " << i;
}

TEST(Dropout, ModuleIsIdentityInEvalAndKeyedByStepAndCall) {
  nn::Dropout d(0.5);
  Var x(Tensor::ones({64}));
  set_step(7, 3);
  Tensor a = d.forward(x).value(), b = d.forward(x).value();
  EXPECT_FALSE(bitwise_equal(a, b));  // the second call of the step draws another mask
  set_step(7, 3);                     // the same step again (a resumed run): the same two masks
  EXPECT_TRUE(bitwise_equal(d.forward(x).value(), a));
  EXPECT_TRUE(bitwise_equal(d.forward(x).value(), b));
  set_step(7, 4);
  EXPECT_FALSE(bitwise_equal(d.forward(x).value(), a));
  set_step(8, 3);  // another run seed
  EXPECT_FALSE(bitwise_equal(d.forward(x).value(), a));
  d.eval();
  EXPECT_TRUE(d.forward(x).same(x));
}

// Module calls through Child handles enter the module's scope: the path is the registered one,
// a shared module gets the path of each place it is called from, containers are never called.
namespace {
struct PathProbe : nn::Module {
  mutable std::vector<std::string> seen;
  Var forward(const Var& x) const {
    seen.push_back(current_module_path());
    return x;
  }
};
struct Inner : nn::Module {
  nn::Child<PathProbe> probe;
  Inner() { probe = register_module("probe", std::make_shared<PathProbe>()); }
  Var forward(const Var& x) const { return probe(x); }
};
}  // namespace

TEST(Module, CallsEnterTheModulePath) {
  nn::Module root;
  auto dict = root.register_module("transformer", std::make_shared<nn::ModuleDict>());
  auto list = dict->register_module("h", std::make_shared<nn::ModuleList<Inner>>());
  auto shared = std::make_shared<Inner>();
  list->push_back(std::make_shared<Inner>());
  list->push_back(shared);
  list->push_back(shared);  // one module in two places
  Var x(Tensor::ones({2}));
  for (auto& item : *list) item(x);
  EXPECT_EQ(current_module_path(), "");  // scopes end with the call
  EXPECT_EQ((*list)[0]->probe->seen, (std::vector<std::string>{"transformer.h.0.probe"}));
  EXPECT_EQ(shared->probe->seen, (std::vector<std::string>{"transformer.h.1.probe", "transformer.h.2.probe"}));
  EXPECT_EQ(shared->path(), "transformer.h.1");  // registered path: the first place
  // Random keys differ between the two places of the shared module, and repeat per step.
  set_step(1, 0);
  auto key_at = [](const std::string& path) {
    ModuleScope s(nullptr, path);
    return next_random_key("dropout");
  };
  const RandomKey k1 = key_at("transformer.h.1"), k2 = key_at("transformer.h.2"), k1b = key_at("transformer.h.1");
  EXPECT_NE(k1.seed, k2.seed);
  EXPECT_EQ(k1.seed, k1b.seed);
  EXPECT_NE(k1.stream, k1b.stream);  // second call of that path in this step
  set_step(1, 0);
  EXPECT_EQ(key_at("transformer.h.1").stream, k1.stream);
  // Each micro-batch of a step has its own draws, the same however many came before it (a rank
  // running micro-batch 1 alone draws what one process draws there after micro-batch 0).
  set_micro_batch(1);
  const RandomKey m1 = key_at("transformer.h.1");
  EXPECT_EQ(m1.seed, k1.seed);
  EXPECT_NE(m1.stream, k1.stream);
  EXPECT_NE(m1.stream, k1b.stream);
  set_step(1, 0);
  key_at("transformer.h.1"), key_at("transformer.h.1");
  set_micro_batch(1);
  EXPECT_EQ(key_at("transformer.h.1").stream, m1.stream);
  set_step(2, 0);
  EXPECT_NE(key_at("transformer.h.1").seed, k1.seed);  // another run seed
  set_step(1, 1);
  EXPECT_NE(key_at("transformer.h.1").stream, k1.stream);  // another step
}

// ------------------------------------------------------------------ rope
TEST(Rope, MatchesNaiveInterleavedRotation) {
  const int64_t B = 2, T = 7, H = 3, D = 10;
  for (int64_t off : {0, 5}) {
    Tensor x = rand64({B, T, H, D}, 9 + uint64_t(off));
    Tensor y = rope(Var(x), off, 500.0).value();
    Tensor ref = Tensor::empty(x.shape(), DType::F64);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t i = 0; i < D / 2; ++i) {
            const double ang = double(t + off) * std::pow(500.0, -2.0 * double(i) / double(D));
            const double a = x.at({b, t, h, 2 * i}), c = x.at({b, t, h, 2 * i + 1});
            ref.set({b, t, h, 2 * i}, a * std::cos(ang) - c * std::sin(ang));
            ref.set({b, t, h, 2 * i + 1}, a * std::sin(ang) + c * std::cos(ang));
          }
    EXPECT_TRUE(all_close(y, ref, 1e-12, 1e-12));
  }
}

TEST(Rope, DotProductsDependOnlyOnRelativePosition) {
  // <rope(q, p), rope(k, p')> is a function of p - p' (the point of RoPE).
  Tensor q = rand64({1, 1, 1, 8}, 1), k = rand64({1, 1, 1, 8}, 2);
  auto dot_at = [&](int64_t pq, int64_t pk) {
    auto a = rope(Var(q), pq).value().to_vector(), b = rope(Var(k), pk).value().to_vector();
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(dot_at(3, 1), dot_at(12, 10), 1e-12);
  EXPECT_NEAR(dot_at(0, 0), dot_at(40, 40), 1e-12);
  EXPECT_GT(std::fabs(dot_at(3, 1) - dot_at(3, 2)), 1e-6);
}

TEST(Rope, ErrorsAndThreads) {
  EXPECT_THROW(rope(Var(Tensor::zeros({1, 2, 3, 5}))), Error);  // odd D
  EXPECT_THROW(rope(Var(Tensor::zeros({2, 3, 4}))), Error);     // not 4-D
  Tensor x = Tensor::uniform({4, 33, 4, 16}, -1, 1, 3);
  set_num_threads(1);
  Tensor a = rope(Var(x), 3).value();
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(a, rope(Var(x), 3).value()));
}

// The angle table is shared and regrown as later positions are asked for: a position's
// rotation is the same bits whenever and in whatever call it is computed; strided rows (q and
// k are views of one projection) give the same result and gradient as a contiguous copy.
TEST(Rope, SharedAngleTableAndStridedRows) {
  const int64_t B = 2, T = 5, H = 3, D = 14;  // D = 14: a table of its own, grown below
  const Tensor x = Tensor::uniform({B, T, H, D}, -1, 1, 21);
  const Tensor early = rope(Var(x), 2, 321.0).value();
  (void)rope(Var(Tensor::uniform({1, 300, 1, D}, -1, 1, 22)), 700, 321.0);  // grows the table past 1000
  EXPECT_TRUE(bitwise_equal(early, rope(Var(x), 2, 321.0).value()));
  // Row t of a call at offset 2 equals row t + 2 of a call at offset 0.
  const Tensor longer = Tensor::uniform({B, T + 2, H, D}, -1, 1, 23);
  const Tensor tail = longer.narrow(1, 2, T).contiguous();
  EXPECT_TRUE(bitwise_equal(rope(Var(longer), 0, 321.0).value().narrow(1, 2, T).contiguous(),
                            rope(Var(tail), 2, 321.0).value()));
  // q as the first H·D columns of a [B, T, 3·H·D] projection, viewed [B, T, H, D].
  const Tensor qkv = Tensor::uniform({B, T, 3 * H * D}, -1, 1, 24);
  Var p(qkv, true);
  Var q = reshape(split(p, {H * D, H * D, H * D}, 2)[0], {B, T, H, D});
  const Tensor g = Tensor::uniform({B, T, H, D}, -1, 1, 25);
  Var yq = rope(q, 1, 321.0);
  yq.backward(g);
  Var pc(qkv.narrow(2, 0, H * D).contiguous().reshape({B, T, H, D}), true);
  Var yc = rope(pc, 1, 321.0);
  yc.backward(g);
  EXPECT_TRUE(bitwise_equal(yq.value(), yc.value()));
  EXPECT_TRUE(bitwise_equal(p.grad().narrow(2, 0, H * D).contiguous().reshape({B, T, H, D}), pc.grad()));
}

// rotate_pairs with rope's angles as tensors is rope; a wrong shape of cos is named.
TEST(Rope, RotatePairsWithRopeAnglesIsRope) {
  const int64_t B = 3, T = 6, H = 2, D = 8, off = 4;
  const Tensor x = rand64({B, T, H, D}, 41);
  Tensor c = Tensor::empty({T, H, D / 2}, DType::F64), s = Tensor::empty({T, H, D / 2}, DType::F64);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < D / 2; ++i) {
        const double ang = double(t + off) * std::pow(1e4, -2.0 * double(i) / double(D));
        c.set({t, h, i}, std::cos(ang)), s.set({t, h, i}, std::sin(ang));
      }
  EXPECT_TRUE(all_close(rotate_pairs(Var(x), Var(c), Var(s)).value(), rope(Var(x), off).value(), 1e-14, 1e-14));
  // Broadcast angle views work; cos of the wrong shape is named in the error.
  const Tensor c1 = c.narrow(1, 0, 1).expand({T, H, D / 2}), s1 = s.narrow(1, 0, 1).expand({T, H, D / 2});
  EXPECT_TRUE(all_close(rotate_pairs(Var(x), Var(c1), Var(s1)).value(), rope(Var(x), off).value(), 1e-14, 1e-14));
  EXPECT_THROW(rotate_pairs(Var(x), Var(c.narrow(0, 0, 2)), Var(s)), Error);
}

// ------------------------------------------------------------------ linear, embedding, MLPs
TEST(Linear, MatchesNaiveWithAndWithoutBias) {
  for (bool bias : {true, false}) {
    nn::Linear lin(7, 5, bias, DType::F64);
    lin.weight.mutable_value().copy_(rand64({5, 7}, 1));
    if (bias) lin.bias.mutable_value().copy_(rand64({5}, 2));
    Tensor x = rand64({3, 4, 7}, 3);
    Tensor ref = Tensor::empty({3, 4, 5}, DType::F64);
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t b = 0; b < 4; ++b)
        for (int64_t o = 0; o < 5; ++o) {
          double s = bias ? lin.bias.value().at({o}) : 0;
          for (int64_t i = 0; i < 7; ++i) s += x.at({a, b, i}) * lin.weight.value().at({o, i});
          ref.set({a, b, o}, s);
        }
    EXPECT_TRUE(all_close(lin.forward(Var(x)).value(), ref, 1e-12, 1e-12));
    EXPECT_EQ(lin.named_parameters().size(), bias ? 2u : 1u);
  }
  nn::Linear lin(7, 5);
  EXPECT_THROW(lin.forward(Var(Tensor::zeros({2, 6}))), Error);
}

TEST(Linear, GradientsMatchGradcheck) {
  EXPECT_TRUE(loupe::testing::gradcheck_ok(
      [](const std::vector<Var>& v) { return add(matmul(v[0], transpose(v[1], 0, 1)), v[2]); },
      {rand64({2, 3, 4}, 1), rand64({5, 4}, 2), rand64({5}, 3)}));
}

TEST(Embedding, LooksUpRows) {
  nn::Embedding e(6, 3, DType::F64);
  e.weight.mutable_value().copy_(rand64({6, 3}, 4));
  Tensor ids = Tensor::from_ints({5, 0, 2, 2}, {2, 2});
  Tensor y = e.forward(ids).value();
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(y.at({0, 0, d}), e.weight.value().at({5, d}));
  EXPECT_THROW(e.forward(Tensor::from_ints({6}, {1})), Error);
}

TEST(Mlp, GeluAndSwiGLUMatchNaive) {
  nn::MLP mlp(4, 8, true, 0.0, false, DType::F64);
  nn::SwiGLU ffn(4, 6, 0.0, DType::F64);
  uint64_t s = 10;
  for (auto& [n, p] : mlp.named_parameters()) p.mutable_value().copy_(rand64(p.shape(), s++));
  for (auto& [n, p] : ffn.named_parameters()) p.mutable_value().copy_(rand64(p.shape(), s++));
  Tensor x = rand64({3, 4}, 99);
  auto lin = [](const std::vector<double>& in, const Tensor& W, const Tensor* b) {
    std::vector<double> out(size_t(W.size(0)));
    for (int64_t o = 0; o < W.size(0); ++o) {
      double acc = b ? b->at({o}) : 0;
      for (int64_t i = 0; i < W.size(1); ++i) acc += in[size_t(i)] * W.at({o, i});
      out[size_t(o)] = acc;
    }
    return out;
  };
  for (int64_t r = 0; r < 3; ++r) {
    std::vector<double> xr;
    for (int64_t i = 0; i < 4; ++i) xr.push_back(x.at({r, i}));
    auto h = lin(xr, mlp.c_fc->weight.value(), &mlp.c_fc->bias.value());
    for (auto& v : h) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));  // exact GELU
    auto y = lin(h, mlp.c_proj->weight.value(), &mlp.c_proj->bias.value());
    auto a = lin(xr, ffn.w1->weight.value(), nullptr), c = lin(xr, ffn.w3->weight.value(), nullptr);
    for (size_t i = 0; i < a.size(); ++i) a[i] = a[i] / (1 + std::exp(-a[i])) * c[i];  // SiLU(w1 x) ⊙ w3 x
    auto z = lin(a, ffn.w2->weight.value(), nullptr);
    Tensor ym = mlp.forward(Var(x)).value(), yf = ffn.forward(Var(x)).value();
    for (int64_t o = 0; o < 4; ++o) {
      EXPECT_NEAR(ym.at({r, o}), y[size_t(o)], 1e-12);
      EXPECT_NEAR(yf.at({r, o}), z[size_t(o)], 1e-12);
    }
  }
  EXPECT_EQ(nn::swiglu_hidden(128), 352);  // 2/3·512 = 341 -> 352
  EXPECT_EQ(nn::swiglu_hidden(384), 1024);
}

TEST(SelfAttention, MatchesComposedReference) {
  // The module (fused qkv, split views, fused attention, c_proj) against unfused Var ops.
  nn::AttentionConfig c;
  c.n_embd = 12;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.bias = true;
  nn::CausalSelfAttention attn(c, DType::F64);
  uint64_t s = 1;
  for (auto& [n, p] : attn.named_parameters()) p.mutable_value().copy_(rand64(p.shape(), s++));
  const int64_t B = 2, T = 5, H = 4, Hkv = 2, D = 3;
  Tensor x = rand64({B, T, 12}, 50);
  Tensor qkv = attn.c_attn->forward(Var(x)).value();
  Tensor out = Tensor::zeros({B, T, H * D}, DType::F64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t hk = h / (H / Hkv);
        std::vector<double> p;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (int64_t e = 0; e < D; ++e) d += qkv.at({b, i, h * D + e}) * qkv.at({b, j, H * D + hk * D + e});
          p.push_back(d / std::sqrt(double(D)));
          mx = std::max(mx, p.back());
        }
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (int64_t j = 0; j <= i; ++j) acc += p[size_t(j)] / sum * qkv.at({b, j, (H + Hkv) * D + hk * D + e});
          out.set({b, i, h * D + e}, acc);
        }
      }
  Tensor ref = attn.c_proj->forward(Var(out)).value();
  EXPECT_TRUE(all_close(attn.forward(Var(x)).value(), ref, 1e-12, 1e-12));
}

// ------------------------------------------------------------------ Module and state dicts
namespace {
struct Net : nn::Module {
  Net() {
    a = register_module("a", std::make_shared<nn::Linear>(3, 4));
    blocks = register_module("blocks", std::make_shared<nn::ModuleList<nn::LayerNorm>>());
    blocks->push_back(std::make_shared<nn::LayerNorm>(4));
    blocks->push_back(std::make_shared<nn::LayerNorm>(4, false));
    scale = register_parameter("scale", Tensor::full({2}, 3.0));
  }
  nn::Child<nn::Linear> a;
  nn::Child<nn::ModuleList<nn::LayerNorm>> blocks;
  Var scale;
};
}  // namespace

TEST(Module, DottedNamesInPyTorchOrder) {
  Net n;
  std::vector<std::string> names;
  for (auto& [k, v] : n.named_parameters()) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "a.weight", "a.bias", "blocks.0.weight", "blocks.0.bias",
                                             "blocks.1.weight"}));
  EXPECT_EQ(n.num_parameters(), 2 + 12 + 4 + 4 + 4 + 4);
  n.eval();
  EXPECT_FALSE(n.blocks->operator[](1)->is_training());
  n.train();
  EXPECT_TRUE(n.a->is_training());
}

TEST(Module, LoadStateDictCopiesInAndReportsMismatches) {
  Net n, m;
  auto sd = n.state_dict();
  sd["a.weight"] = Tensor::uniform({4, 3}, -1, 1, 5);
  const Tensor before = m.a->weight.value();
  m.load_state_dict(sd);
  EXPECT_TRUE(m.a->weight.value().shares_storage(before));  // copied into the parameter's own storage
  EXPECT_TRUE(bitwise_equal(m.a->weight.value(), sd["a.weight"]));
  auto expect_error = [&](std::map<std::string, Tensor> bad, const std::string& needle, bool strict = true) {
    try {
      m.load_state_dict(bad, strict);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto missing = sd;
  missing.erase("blocks.1.weight");
  expect_error(missing, "missing keys: blocks.1.weight");
  EXPECT_NO_THROW(m.load_state_dict(missing, /*strict=*/false));
  auto extra = sd;
  extra["blocks.2.weight"] = Tensor::zeros({4});
  expect_error(extra, "unexpected keys: blocks.2.weight");
  auto shape = sd;
  shape["a.bias"] = Tensor::zeros({5});
  expect_error(shape, "'a.bias' has shape [5], the model expects [4]", false);
  auto dtype = sd;
  dtype["a.bias"] = Tensor::from_ints({1, 2, 3, 4}, {4});
  expect_error(dtype, "'a.bias' has dtype i64");
}

TEST(Module, SharedParameterAppearsOnceUnderItsFirstName) {
  struct Tied : nn::Module {
    Tied() {
      auto shared = std::make_shared<nn::Linear>(2, 2, false);
      register_module("first", shared);
      register_module("second", shared);  // the same layer used twice (weight tying)
    }
  } t;
  auto np = t.named_parameters();
  ASSERT_EQ(np.size(), 1u);
  EXPECT_EQ(np[0].first, "first.weight");
  EXPECT_EQ(t.num_parameters(), 4);
  EXPECT_EQ(t.state_dict().size(), 1u);
}

// ------------------------------------------------------------------ safetensors
// Two MPI ranks (or threads) may build the same token cache at once: every writer renames a
// whole file of its own over the path, so the reader sees one writer's bytes, never an error.
TEST(FileIO, ConcurrentAtomicWritersOfOnePath) {
  const std::string path = ::testing::TempDir() + "loupe_concurrent.bin";
  std::vector<std::string> bodies;
  for (int i = 0; i < 8; ++i) bodies.push_back(std::string(size_t(200000 + i), char('a' + i)));
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i)
    writers.emplace_back([&, i] {
      try {
        for (int rep = 0; rep < 4; ++rep) write_file_atomic(path, bodies[size_t(i)]);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string got = read_file(path);
  EXPECT_TRUE(std::find(bodies.begin(), bodies.end(), got) != bodies.end()) << "torn file of " << got.size() << " bytes";
  for (const auto& e : std::filesystem::directory_iterator(::testing::TempDir()))
    EXPECT_EQ(e.path().filename().string().rfind("loupe_concurrent.bin.tmp", 0), std::string::npos) << e.path();
  std::remove(path.c_str());
}

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  const std::string path = ::testing::TempDir() + "loupe_rt.safetensors";
  std::map<std::string, Tensor> t = {
      {"f32", Tensor::uniform({3, 5}, -1, 1, 1)},
      {"f64.strided", rand64({4, 6}, 2).transpose(0, 1)},
      {"i64", Tensor::from_ints({-3, 0, 1LL << 40}, {3})},
      {"scalar", Tensor::scalar(2.5)},
      {"empty", Tensor::zeros({0, 4})},
  };
  nn::save_safetensors(path, t, {{"step", "12"}, {"note", "héllo"}});
  for (const auto& e : std::filesystem::directory_iterator(::testing::TempDir()))
    EXPECT_EQ(e.path().filename().string().rfind("loupe_rt.safetensors.tmp", 0), std::string::npos)
        << "temporary file left behind: " << e.path();
  std::map<std::string, std::string> meta;
  auto back = nn::load_safetensors(path, &meta);
  ASSERT_EQ(back.size(), t.size());
  for (auto& [k, v] : t) EXPECT_TRUE(bitwise_equal(back.at(k), v.contiguous())) << k;
  EXPECT_EQ(meta.at("step"), "12");
  EXPECT_EQ(meta.at("note"), "héllo");
  // The layout is the documented one: u64 header length, JSON, data 8-byte aligned.
  std::ifstream f(path, std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header(n, '\0');
  f.read(header.data(), int64_t(n));
  auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["f32"]["dtype"], "F32");
  EXPECT_EQ(j["f64.strided"]["shape"], nlohmann::json({6, 4}));
  std::remove(path.c_str());
}

namespace {
std::string file_with_header(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(s.data(), &n, 8);
  return s + header + std::string(data_bytes, '\0');
}
void expect_parse_error(const std::string& bytes, const std::string& needle) {
  try {
    nn::parse_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "accepted; expected an error containing: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Safetensors, CorruptFilesGiveClearErrors) {
  expect_parse_error("1234", "shorter than");
  expect_parse_error(file_with_header("{}", 0).substr(0, 8) + "{", "exceeds the file size");
  expect_parse_error(file_with_header("{\"a\":", 0), "not valid JSON");
  expect_parse_error(file_with_header("[1,2]", 0), "JSON object");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4),
                     "tensor 'w': unsupported dtype BF16");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                     "tensor 'w': shape [3] F32 needs 12 bytes");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                     "tensor 'w': data_offsets [0, 16] outside");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                     "non-negative");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "needs dtype, shape and data_offsets");
  // Element counts whose byte count wraps 64 bits to 0 (2^62 × 4, 2^61 × 8, 2^32 × 2^30 × 4) with
  // no data: once read as tensors of 0 bytes that claimed 2^62 elements.
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
                     "tensor 'w': shape [4611686018427387904] F32 needs more than 2^62 bytes");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0),
                     "needs more than 2^62 bytes");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"F32","shape":[4294967296,1073741824],"data_offsets":[0,0]}})", 0),
                     "needs more than 2^62 bytes");
  expect_parse_error(file_with_header(R"({"w":{"dtype":"I64","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0),
                     "is too large");
  expect_parse_error(file_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                      12),
                     "overlap");
  EXPECT_THROW(nn::load_safetensors("/nonexistent/dir/x.safetensors"), Error);
}

TEST(Safetensors, FuzzedBytesNeverCrash) {
  const std::string path = ::testing::TempDir() + "loupe_fuzz.safetensors";
  nn::save_safetensors(path, {{"a", Tensor::uniform({3, 4}, 0, 1, 1)}, {"b", Tensor::from_ints({1, 2}, {2})}});
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string good = ss.str();
  std::remove(path.c_str());
  int errors = 0;
  for (uint64_t trial = 0; trial < 400; ++trial) {
    std::string s = good;
    const auto r = philox4x32(7, 0, trial);
    if (trial % 3 == 0) s.resize(r[0] % s.size());                     // truncation
    else s[r[0] % s.size()] = char(r[1]);                               // one byte flipped
    if (trial % 5 == 0) s[r[2] % std::min<size_t>(s.size(), 8) ] ^= 1;  // header length damaged
    try {
      nn::parse_safetensors(s, "fuzz");
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 100);
}
