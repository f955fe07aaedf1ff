// matmul (Tensor and Var) vs a naive f64 reference: 2-D, batched with broadcast batch dims,
// NumPy's 1-D rules, transposed / strided / batch-permuted views, errors naming both shapes,
// and 1 vs 2 threads bit for bit (forward and backward).
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using namespace loupe::testing;

namespace {

// Plain loops over the broadcast batch, promoting 1-D operands as NumPy does.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a, b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "reference");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::zeros(out_shape, DType::F64);
  const int64_t nb = shape_numel(batch);
  for (int64_t q = 0; q < nb; ++q) {
    std::vector<int64_t> idx(batch.size());  // batch index of q, then each operand's (broadcast) index
    for (int64_t d = int64_t(batch.size()) - 1, r = q; d >= 0; --d) idx[size_t(d)] = r % batch[size_t(d)], r /= batch[size_t(d)];
    auto operand_index = [&](const Shape& ob) {
      std::vector<int64_t> oi;
      for (size_t d = 0; d < ob.size(); ++d) oi.push_back(ob[d] == 1 ? 0 : idx[batch.size() - ob.size() + d]);
      return oi;
    };
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          auto ia = operand_index(ba), ib = operand_index(bb);
          ia.push_back(i), ia.push_back(p), ib.push_back(p), ib.push_back(j);
          acc += a2.at(ia) * b2.at(ib);
        }
        auto io = idx;
        io.push_back(i), io.push_back(j);
        out.set(io, acc);
      }
  }
  Shape final_shape = batch;
  if (a.dim() > 1) final_shape.push_back(m);
  if (b.dim() > 1) final_shape.push_back(n);
  return out.reshape(final_shape);
}

void expect_matches(const Tensor& a, const Tensor& b) {
  SCOPED_TRACE(a.str() + " x " + b.str());
  const Tensor got = matmul(a, b), want = reference_matmul(a, b);
  ASSERT_EQ(got.dtype(), a.dtype());
  const double tol = a.dtype() == DType::F32 ? 1e-5 : 1e-12;
  EXPECT_TRUE(all_close(got.to(DType::F64), want, tol, tol));
}

Tensor rnd(const Shape& s, uint64_t seed, DType dt) { return Tensor::uniform(s, -1, 1, seed, dt); }

}  // namespace

TEST(Matmul, ShapesAndBroadcasting) {
  for (DType dt : {DType::F32, DType::F64}) {
    expect_matches(rnd({7, 17}, 1, dt), rnd({17, 31}, 2, dt));
    expect_matches(rnd({1, 1}, 1, dt), rnd({1, 65}, 2, dt));
    expect_matches(rnd({3, 5, 7}, 3, dt), rnd({7, 4}, 4, dt));         // shared right operand: one GEMM
    expect_matches(rnd({5, 7}, 3, dt), rnd({3, 7, 4}, 4, dt));         // shared left operand
    expect_matches(rnd({2, 1, 3, 5}, 5, dt), rnd({4, 5, 6}, 6, dt));   // both broadcast
    expect_matches(rnd({2, 1, 3, 5}, 5, dt), rnd({1, 3, 5, 2}, 6, dt));  // batch needs a copy
    expect_matches(rnd({2, 3, 4, 5}, 7, dt), rnd({2, 3, 5, 3}, 8, dt));
    expect_matches(rnd({5}, 9, dt), rnd({5, 3}, 10, dt));              // 1-D x 2-D -> [3]
    expect_matches(rnd({2, 3, 5}, 9, dt), rnd({5}, 10, dt));           // 3-D x 1-D -> [2, 3]
    expect_matches(rnd({5}, 9, dt), rnd({2, 5, 3}, 10, dt));           // 1-D x 3-D -> [2, 3]
    expect_matches(rnd({5}, 9, dt), rnd({5}, 10, dt));                 // dot -> []
    expect_matches(rnd({0, 3}, 9, dt), rnd({3, 4}, 10, dt));           // empty result
    expect_matches(rnd({2, 0}, 9, dt), rnd({0, 4}, 10, dt));           // k = 0: zeros
  }
  EXPECT_EQ(matmul(rnd({5}, 9, DType::F32), rnd({5}, 10, DType::F32)).dim(), 0);
  EXPECT_EQ(matmul(rnd({2, 3, 5}, 9, DType::F32), rnd({5}, 10, DType::F32)).shape(), (Shape{2, 3}));
}

TEST(Matmul, StridedAndTransposedViews) {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor a = rnd({17, 33}, 11, dt), b = rnd({65, 33}, 12, dt);
    expect_matches(a, b.transpose(0, 1));                                   // Bᵀ
    expect_matches(a.transpose(0, 1), rnd({17, 9}, 13, dt));                // Aᵀ
    expect_matches(a.slice(1, 0, 33, 2), rnd({17, 5}, 14, dt));             // column step 2
    expect_matches(rnd({4, 31, 6}, 15, dt).transpose(0, 1), rnd({31, 6, 3}, 16, dt));  // batch-permuted
    expect_matches(rnd({3, 7, 5}, 17, dt).transpose(1, 2), rnd({7, 65}, 18, dt));      // batched Aᵀ, shared B
  }
}

TEST(Matmul, ErrorsNameBothShapes) {
  auto message = [](const Tensor& a, const Tensor& b) {
    try {
      matmul(a, b);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string m1 = message(Tensor::zeros({3, 4}), Tensor::zeros({5, 6}));
  EXPECT_NE(m1.find("matmul"), std::string::npos) << m1;
  EXPECT_NE(m1.find("[3, 4]"), std::string::npos) << m1;
  EXPECT_NE(m1.find("[5, 6]"), std::string::npos) << m1;
  const std::string m2 = message(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5}));
  EXPECT_NE(m2.find("[2, 3, 4]"), std::string::npos) << m2;
  EXPECT_NE(m2.find("[3, 4, 5]"), std::string::npos) << m2;
  EXPECT_NE(message(Tensor::scalar(1), Tensor::zeros({1})).find("0-d"), std::string::npos);
  EXPECT_NE(message(Tensor::zeros({2, 2}), Tensor::zeros({2, 2}, DType::F64)).find("[2, 2]"), std::string::npos);
  EXPECT_THROW(matmul(Tensor::from_ints({1, 2, 3, 4}, {2, 2}), Tensor::from_ints({1, 2, 3, 4}, {2, 2})), Error);
  EXPECT_THROW(matmul(Var(Tensor::zeros({3})), Var(Tensor::zeros({4}))), Error);
}

TEST(Matmul, ThreadsBitwise) {
  const Tensor a = rnd({3, 65, 129}, 21, DType::F32), b = rnd({129, 47}, 22, DType::F32);
  set_num_threads(1);
  const Tensor c1 = matmul(a, b);
  Var va1(a, true), vb1(b, true);
  matmul(va1, vb1).backward(Tensor::ones({3, 65, 47}));
  set_num_threads(2);
  const Tensor c2 = matmul(a, b);
  Var va2(a, true), vb2(b, true);
  matmul(va2, vb2).backward(Tensor::ones({3, 65, 47}));
  EXPECT_TRUE(bitwise_equal(c1, c2));
  EXPECT_TRUE(bitwise_equal(va1.grad(), va2.grad()));
  EXPECT_TRUE(bitwise_equal(vb1.grad(), vb2.grad()));
}

// Backward values against explicit formulas: dA = G Bᵀ, dB = sum over the batch of Aᵀ G.
TEST(Matmul, BackwardOfSharedWeight) {
  const Tensor a = rand64({2, 5, 7}, 31), b = rand64({7, 3}, 32), g = rand64({2, 5, 3}, 33);
  Var va(a, true), vb(b, true);
  matmul(va, vb).backward(g);
  EXPECT_TRUE(all_close(va.grad(), reference_matmul(g, b.transpose(0, 1)), 1e-12, 1e-12));
  Tensor db = Tensor::zeros({7, 3}, DType::F64);
  for (int64_t q = 0; q < 2; ++q) {
    const Tensor part = reference_matmul(a.select(0, q).transpose(0, 1), g.select(0, q));
    for (int64_t i = 0; i < 7; ++i)
      for (int64_t j = 0; j < 3; ++j) db.set({i, j}, db.at({i, j}) + part.at({i, j}));
  }
  EXPECT_TRUE(all_close(vb.grad(), db, 1e-12, 1e-12));
  // Only the inputs that need a gradient get one.
  Var vc(a, false), vd(b, true);
  matmul(vc, vd).backward(g);
  EXPECT_FALSE(vc.grad().defined());
  EXPECT_TRUE(all_close(vd.grad(), db, 1e-12, 1e-12));
}

// A Linear's y = x · Wᵀ with Wᵀ a transposed view of W: the backward computes W's gradient in
// W's own layout (dW = Gᵀ X, contiguous), bitwise equal to the transpose of Xᵀ G computed
// from a plain (copied) Wᵀ, and the value of the explicit sum over the batch.
TEST(Matmul, GradientOfTransposedWeightComesInItsOwnLayout) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const Tensor x = rnd({3, 37, 29}, 41, dt), w = rnd({19, 29}, 42, dt), g = rnd({3, 37, 19}, 43, dt);
    Var vx(x, true), vw(w, true);
    matmul(vx, transpose(vw, 0, 1)).backward(g);
    ASSERT_TRUE(vw.grad().is_contiguous());
    Var vx2(x, true), vwt(w.transpose(0, 1).contiguous(), true);  // Wᵀ as a row-major [29, 19] leaf
    matmul(vx2, vwt).backward(g);
    EXPECT_TRUE(bitwise_equal(vw.grad(), vwt.grad().transpose(0, 1).contiguous()));
    EXPECT_TRUE(bitwise_equal(vx.grad(), vx2.grad()));
    const Tensor x64 = x.to(DType::F64), g64 = g.to(DType::F64);
    Tensor dw = Tensor::zeros({19, 29}, DType::F64);
    for (int64_t q = 0; q < 3; ++q) {
      const Tensor part = reference_matmul(g64.select(0, q).transpose(0, 1), x64.select(0, q));
      for (int64_t i = 0; i < 19; ++i)
        for (int64_t j = 0; j < 29; ++j) dw.set({i, j}, dw.at({i, j}) + part.at({i, j}));
    }
    EXPECT_TRUE(all_close(vw.grad().to(DType::F64), dw, dt == DType::F32 ? 1e-4 : 1e-12, 1e-5));
  }
}
