// Fused causal attention (tensor/kernels/attention.cpp) against a naive f64
// reference that builds the full masked score matrix: plain and grouped-query
// heads, KV-cache query offsets, strided inputs, dropout, awkward sizes, gradients
// against the reference's hand-written backward, thread-count determinism, errors.
#include <cmath>

#include "autograd/nn_ops.h"
#include "tensor/kernels/dropout.h"
#include "tensor/parallel.h"
#include "tensor/reference/mode.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;
using loupe::testing::rand64;

namespace {

struct Ref {
  Tensor out, dq, dk, dv;
};

// The textbook twin (tensor/reference/attention.h: out[b,h,i] = Σ_j P_ij M_ij/(1-p) v[b,h/g,j],
// P = softmax_j(q·k·scale) over j <= off + i, and the gradients written from the full matrices)
// in f64. If dout is given, also the gradients.
Ref naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                    const Tensor& dout = Tensor()) {
  reference::Scope textbook;
  Var vq(q.to(DType::F64), true), vk(k.to(DType::F64), true), vv(v.to(DType::F64), true);
  Var out = causal_attention(vq, vk, vv, o);
  if (!dout.defined()) return {out.value(), {}, {}, {}};
  out.backward(dout.to(DType::F64));
  return {out.value(), vq.grad(), vk.grad(), vv.grad()};
}

struct Case {
  int64_t B, H, Hkv, Tq, Tk, D, off;
  double p;
  int64_t Dv = 0;  // 0: the same as D
};

}  // namespace

TEST(Attention, ForwardAndBackwardMatchNaiveReference) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, 1, 0, 0},     {2, 3, 3, 7, 7, 5, 0, 0},      {1, 4, 2, 17, 17, 8, 0, 0},
      {2, 4, 1, 31, 31, 16, 0, 0},  {1, 2, 2, 65, 65, 3, 0, 0},    {1, 1, 1, 130, 130, 5, 0, 0},
      {2, 2, 1, 3, 20, 7, 17, 0},   {1, 1, 1, 1, 65, 17, 64, 0},   {1, 2, 2, 33, 33, 4, 0, 0.3},
      {2, 4, 2, 9, 12, 6, 3, 0.5},
      // Several query blocks and key tiles, wide heads, value width unlike the key width.
      {1, 2, 1, 70, 200, 32, 130, 0, 48},  {2, 2, 2, 100, 100, 64, 0, 0, 19}, {1, 3, 3, 45, 45, 9, 0, 0.2, 40},
  };
  uint64_t seed = 10;
  for (const auto& c : cases) {
    for (DType dt : {DType::F64, DType::F32}) {
      SCOPED_TRACE(::testing::Message() << "B" << c.B << " H" << c.H << " Hkv" << c.Hkv << " Tq" << c.Tq << " Tk"
                                        << c.Tk << " D" << c.D << " Dv" << c.Dv << " off" << c.off << " p" << c.p << " "
                                        << dtype_name(dt));
      Tensor q = rand64({c.B, c.H, c.Tq, c.D}, seed++, -2, 2), k = rand64({c.B, c.Hkv, c.Tk, c.D}, seed++, -2, 2);
      const int64_t Dv = c.Dv ? c.Dv : c.D;
      Tensor v = rand64({c.B, c.Hkv, c.Tk, Dv}, seed++), g = rand64({c.B, c.H, c.Tq, Dv}, seed++);
      AttentionOptions o;
      o.q_offset = c.off;
      o.dropout_p = c.p;
      o.seed = 77;
      o.counter = 5;
      Ref ref = naive_attention(q, k, v, o, g);
      Var vq(q.to(dt), true), vk(k.to(dt), true), vv(v.to(dt), true);
      Var out = causal_attention(vq, vk, vv, o);
      out.backward(g.to(dt));
      const double tol = dt == DType::F64 ? 1e-10 : 2e-5;
      EXPECT_TRUE(all_close(out.value().to(DType::F64), ref.out, tol, tol));
      EXPECT_TRUE(all_close(vq.grad().to(DType::F64), ref.dq, tol, tol));
      EXPECT_TRUE(all_close(vk.grad().to(DType::F64), ref.dk, tol, tol));
      EXPECT_TRUE(all_close(vv.grad().to(DType::F64), ref.dv, tol, tol));
    }
  }
}

TEST(Attention, StridedInputsFromAFusedProjection) {
  // q, k, v as views of one [B, T, 3, H, D] tensor, the layout a fused qkv projection gives.
  const int64_t B = 2, T = 19, H = 3, D = 6;
  Tensor qkv = rand64({B, T, 3, H, D}, 5);
  Tensor q = qkv.select(2, 0).permute({0, 2, 1, 3}), k = qkv.select(2, 1).permute({0, 2, 1, 3});
  Tensor v = qkv.select(2, 2).permute({0, 2, 1, 3});
  Var out = causal_attention(Var(q), Var(k), Var(v));
  EXPECT_TRUE(all_close(out.value(), naive_attention(q, k, v, {}).out, 1e-12, 1e-12));
  // And a non-unit stride in the head dim (forces the copy path).
  Tensor qs = rand64({1, 2, 5, 8}, 6).slice(3, 0, 8, 2);
  Tensor ks = rand64({1, 2, 5, 4}, 7), vs = rand64({1, 2, 5, 4}, 8);
  EXPECT_TRUE(all_close(causal_attention(Var(qs), Var(ks), Var(vs)).value(), naive_attention(qs, ks, vs, {}).out,
                        1e-12, 1e-12));
}

TEST(Attention, OutputTransposesToAContiguousView) {
  Tensor q = rand64({2, 3, 5, 4}, 1);
  Tensor out = causal_attention(Var(q), Var(q), Var(q)).value();
  EXPECT_TRUE(out.transpose(1, 2).is_contiguous());
}

TEST(Attention, CachedStepsEqualTheFullSequence) {
  // Decoding token by token with q_offset reproduces the rows of the full causal attention.
  const int64_t B = 2, H = 4, Hkv = 2, T = 70, D = 8;
  Tensor q = Tensor::uniform({B, H, T, D}, -1, 1, 3), k = Tensor::uniform({B, Hkv, T, D}, -1, 1, 4);
  Tensor v = Tensor::uniform({B, Hkv, T, D}, -1, 1, 5);
  Tensor full = causal_attention(Var(q), Var(k), Var(v)).value();
  for (int64_t t : {0, 1, 33, 64, 69}) {
    AttentionOptions o;
    o.q_offset = t;
    Tensor step = causal_attention(Var(q.narrow(2, t, 1)), Var(k.narrow(2, 0, t + 1)), Var(v.narrow(2, 0, t + 1)), o)
                      .value();
    EXPECT_TRUE(all_close(step, full.narrow(2, t, 1), 1e-6, 1e-6)) << "t=" << t;
  }
}

TEST(Attention, OneAndTwoThreadsBitwiseEqual) {
  const int64_t B = 3, H = 4, Hkv = 2, T = 77, D = 32;
  Tensor q = Tensor::uniform({B, H, T, D}, -1, 1, 13), k = Tensor::uniform({B, Hkv, T, D}, -1, 1, 14);
  Tensor v = Tensor::uniform({B, Hkv, T, D}, -1, 1, 15), g = Tensor::uniform({B, H, T, D}, -1, 1, 16);
  AttentionOptions o;
  o.dropout_p = 0.1;
  o.seed = 9;
  Tensor outs[2], dqs[2], dks[2], dvs[2];
  for (int n : {1, 2}) {
    set_num_threads(n);
    Var vq(q, true), vk(k, true), vv(v, true);
    Var out = causal_attention(vq, vk, vv, o);
    out.backward(g);
    outs[n - 1] = out.value(), dqs[n - 1] = vq.grad(), dks[n - 1] = vk.grad(), dvs[n - 1] = vv.grad();
  }
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(outs[0], outs[1]));
  EXPECT_TRUE(bitwise_equal(dqs[0], dqs[1]));
  EXPECT_TRUE(bitwise_equal(dks[0], dks[1]));
  EXPECT_TRUE(bitwise_equal(dvs[0], dvs[1]));
}

TEST(Attention, LargeScoresStayFinite) {
  Tensor q = Tensor::full({1, 1, 9, 4}, 30.0), k = Tensor::uniform({1, 1, 9, 4}, 10, 40, 2);
  Tensor v = Tensor::uniform({1, 1, 9, 4}, -1, 1, 3);
  Tensor out = causal_attention(Var(q), Var(k), Var(v)).value();
  for (double x : out.to_vector()) EXPECT_TRUE(std::isfinite(x));
  EXPECT_TRUE(all_close(out.to(DType::F64),
                        naive_attention(q.to(DType::F64), k.to(DType::F64), v.to(DType::F64), {}).out, 1e-4, 1e-5));
}

TEST(Attention, DropoutDropsAboutPAndIsDeterministic) {
  Tensor q = Tensor::zeros({1, 1, 200, 2}), v = Tensor::ones({1, 1, 200, 2});
  AttentionOptions o;
  o.dropout_p = 0.4;
  o.seed = 3;
  o.counter = 1;
  // Uniform probabilities 1/(i+1); dropping each with p = 0.4 and rescaling keeps the mean of out ≈ 1.
  Tensor a = causal_attention(Var(q), Var(q), Var(v), o).value();
  Tensor b = causal_attention(Var(q), Var(q), Var(v), o).value();
  EXPECT_TRUE(bitwise_equal(a, b));
  o.counter = 2;
  Tensor c = causal_attention(Var(q), Var(q), Var(v), o).value();
  EXPECT_FALSE(bitwise_equal(a, c));
  double mean = 0;
  for (double x : a.to_vector()) mean += x / double(a.numel());
  EXPECT_NEAR(mean, 1.0, 0.1);
}

TEST(Attention, Errors) {
  Var q(Tensor::zeros({1, 4, 3, 8})), k(Tensor::zeros({1, 3, 3, 8})), bad(Tensor::zeros({1, 4, 3, 7}));
  try {
    causal_attention(q, k, k);
    FAIL() << "H % Hkv != 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("causal_attention"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[1, 3, 3, 8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(causal_attention(q, bad, bad), Error);
  EXPECT_THROW(causal_attention(q, q, Var(Tensor::zeros({1, 4, 2, 8}))), Error);  // v has 2 positions, k 3
  EXPECT_THROW(causal_attention(Var(Tensor::zeros({4, 3, 8})), q, q), Error);
  AttentionOptions o;
  o.q_offset = 1;  // 1 + Tq 3 > Tk 3
  EXPECT_THROW(causal_attention(q, q, q, o), Error);
  o.q_offset = 0;
  o.dropout_p = 1.0;
  EXPECT_THROW(causal_attention(q, q, q, o), Error);
  EXPECT_THROW(causal_attention(q, Var(Tensor::zeros({1, 4, 3, 8}, DType::F64)), q), Error);
}
