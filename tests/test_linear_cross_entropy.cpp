// The fused, chunked LM head and cross-entropy (tensor/kernels/linear_cross_entropy.h,
// autograd/ops/loss.cpp) against the unfused ops it replaces — matmul(h, Wᵀ), then
// cross_entropy — in f64 and f32, at sizes where the rows split into several chunks (and the
// last one short), with ignored rows and strided inputs; its textbook twin; the same bits for
// 1, 2 and 3 threads; no gradient made when none is wanted; errors.
#include <cmath>

#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "models/decoder.h"
#include "models/model.h"
#include "tensor/kernels/linear_cross_entropy.h"
#include "tensor/parallel.h"
#include "tensor/reference/mode.h"
#include "tests/test_files.h"
#include "tests/testing.h"

namespace loupe {
namespace {

using testing::all_close;
using testing::bitwise_equal;

// Small chunks (the kernel's `chunk` argument), so a few hundred rows make several.
constexpr int64_t kV = 1000, kChunk = int64_t(1) << 16;
constexpr int64_t kRowsPerChunk = kChunk / kV;  // 65

Tensor targets(int64_t n, int64_t v, uint64_t seed, bool with_ignored) {
  const auto u = Tensor::uniform({n}, 0, double(v), seed, DType::F64).to_vector();
  std::vector<int64_t> t;
  for (size_t i = 0; i < u.size(); ++i) t.push_back(with_ignored && i % 7 == 3 ? -1 : std::min<int64_t>(v - 1, int64_t(u[i])));
  return Tensor::from_ints(t, {n});
}

struct Result {
  double loss;
  Tensor dh, dw;
};

// The kernel with small chunks, its unscaled gradients divided by the counted rows (what the op's
// backward does for dloss = 1).
Result fused(const Tensor& h, const Tensor& w, const Tensor& t) {
  const LinearCrossEntropy f = linear_cross_entropy_forward(h, w, t, -1, true, true, kChunk);
  auto mean = [&](const Tensor& d) {
    Tensor out = d.to(DType::F64).contiguous();
    for (int64_t i = 0; i < out.numel(); ++i) out.data<double>()[i] /= double(f.count);
    return out.to(d.dtype());
  };
  return {f.loss.item(), mean(f.dh), mean(f.dw)};
}

Result unfused(const Tensor& h, const Tensor& w, const Tensor& t) {
  Var hv(h.clone(), true), wv(w.clone(), true);
  Var loss = cross_entropy(matmul(hv, transpose(wv, 0, 1)), t);
  loss.backward();
  return {loss.item(), hv.grad(), wv.grad()};
}

TEST(LinearCrossEntropy, EqualsTheUnfusedOpsOverSeveralChunks) {
  const int64_t N = 2 * kRowsPerChunk + 37, C = 24;  // three chunks, the last one short
  for (DType dt : {DType::F64, DType::F32}) {
    const Tensor h = Tensor::normal({N, C}, 0, 1, 11, dt), w = Tensor::normal({kV, C}, 0, 0.5, 12, dt);
    const Tensor t = targets(N, kV, 13, /*with_ignored=*/true);
    const Result a = fused(h, w, t), b = unfused(h, w, t);
    const double tol = dt == DType::F64 ? 1e-12 : 2e-5;
    EXPECT_NEAR(a.loss, b.loss, tol * std::abs(b.loss)) << dtype_name(dt);
    EXPECT_TRUE(all_close(a.dh, b.dh, tol, tol * 1e-2)) << dtype_name(dt);
    EXPECT_TRUE(all_close(a.dw, b.dw, tol, tol * 1e-2)) << dtype_name(dt);
  }
}

TEST(LinearCrossEntropy, StridedInputsAndTheTextbookTwin) {
  const int64_t N = kRowsPerChunk + 5, C = 9;
  const Tensor hw = Tensor::normal({C, N}, 0, 1, 21, DType::F64);  // h = hwᵀ: a transposed view
  const Tensor w = Tensor::normal({kV, C}, 0, 0.5, 22, DType::F64), t = targets(N, kV, 23, false);
  const Result a = fused(hw.transpose(0, 1), w, t), b = unfused(hw.transpose(0, 1).contiguous(), w, t);
  EXPECT_NEAR(a.loss, b.loss, 1e-12 * b.loss);
  EXPECT_TRUE(all_close(a.dh, b.dh, 1e-12, 1e-14));
  // The op (default chunks: one here) and its textbook twin.
  Var hv(hw.transpose(0, 1), true), wv(w, true);
  Var op = linear_cross_entropy(hv, wv, t);
  op.backward();
  EXPECT_NEAR(op.item(), a.loss, 1e-12 * a.loss);
  EXPECT_TRUE(all_close(hv.grad(), a.dh, 1e-12, 1e-14));
  Result r;
  {
    reference::Scope textbook;
    Var h2(hw.transpose(0, 1), true), w2(w, true);
    Var loss = linear_cross_entropy(h2, w2, t);
    loss.backward();
    r = {loss.item(), h2.grad(), w2.grad()};
  }
  EXPECT_NEAR(r.loss, a.loss, 1e-12 * a.loss);
  EXPECT_TRUE(all_close(r.dh, a.dh, 1e-12, 1e-14));
  EXPECT_TRUE(all_close(r.dw, a.dw, 1e-12, 1e-14));
}

TEST(LinearCrossEntropy, TheSameBitsForAnyThreadCount) {
  const int64_t N = 2 * kRowsPerChunk + 3, C = 32;
  const Tensor h = Tensor::normal({N, C}, 0, 1, 31), w = Tensor::normal({kV, C}, 0, 0.5, 32);
  const Tensor t = targets(N, kV, 33, true);
  const int before = get_num_threads();
  set_num_threads(1);
  const Result one = fused(h, w, t);
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const Result many = fused(h, w, t);
    EXPECT_EQ(one.loss, many.loss) << threads;
    EXPECT_TRUE(bitwise_equal(one.dh, many.dh)) << threads;
    EXPECT_TRUE(bitwise_equal(one.dw, many.dw)) << threads;
  }
  set_num_threads(before);
}

TEST(LinearCrossEntropy, NoGradientWithoutGrad) {
  const Tensor h = Tensor::normal({6, 4}, 0, 1, 41), w = Tensor::normal({10, 4}, 0, 1, 42);
  const LinearCrossEntropy f = linear_cross_entropy_forward(h, w, targets(6, 10, 43, false), -1, false, false);
  EXPECT_FALSE(f.dh.defined() || f.dw.defined());
  EXPECT_EQ(f.count, 6);
  Var loss;
  {
    NoGrad ng;
    loss = linear_cross_entropy(Var(h, true), Var(w, true), targets(6, 10, 43, false));
  }
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_NEAR(loss.item(), f.loss.item(), 1e-6);
}

TEST(LinearCrossEntropy, ErrorsNameTheProblem) {
  const Tensor h = Tensor::zeros({3, 4}), w = Tensor::zeros({5, 4});
  auto error = [&](const Tensor& wt, const Tensor& t) {
    return testing::error_of([&] { linear_cross_entropy_forward(h, wt, t, -1, true, true); });
  };
  EXPECT_NE(error(w, Tensor::from_ints({0, 7, 1}, {3})).find("target 7 in row 1"), std::string::npos);
  EXPECT_NE(error(Tensor::zeros({5, 3}), Tensor::from_ints({0, 1, 1}, {3})).find("[V, C]"), std::string::npos);
  EXPECT_NE(error(w, Tensor::from_ints({0, 1}, {2})).find("targets must be i64 [N]"), std::string::npos);
}

// A decoder with a vocabulary of kFusedHeadVocab or more trains through the fused head (tied for
// gpt, untied for llama): its loss and every gradient equal those of forward + cross_entropy.
TEST(LinearCrossEntropy, LargeVocabularyDecodersFuseTheirHead) {
  for (const char* type : {"gpt", "llama"}) {
    const nlohmann::json cfg = {{"type", type}, {"vocab_size", models::kFusedHeadVocab + 3}, {"block_size", 8},
                                {"n_layer", 1}, {"n_head", 2}, {"n_embd", 8}, {"dropout", 0.0}, {"dtype", "f64"}};
    auto model = models::build_model(cfg);
    const Tensor ids = targets(2 * 8, models::kFusedHeadVocab + 3, 51, false).reshape({2, 8});
    const Tensor next = targets(2 * 8, models::kFusedHeadVocab + 3, 52, false).reshape({2, 8});
    auto grads = [&](bool fused) {
      for (auto& p : model->parameters()) p.zero_grad();
      Var loss = fused ? model->loss(ids, next) : model->models::LanguageModel::loss(ids, next);
      loss.backward();
      std::vector<Tensor> g{Tensor::scalar(loss.item(), DType::F64)};
      for (auto& p : model->parameters()) g.push_back(p.grad().clone());
      return g;
    };
    const auto a = grads(true), b = grads(false);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_close(a[i], b[i], 1e-11, 1e-14)) << type << " tensor " << i;
    // and the fused op is the one that ran
    bool saw = false;
    const int hook = add_op_hook([&](const OpEvent& ev) { saw |= std::string(ev.op) == "linear_cross_entropy"; });
    model->loss(ids, next);
    remove_op_hook(hook);
    EXPECT_TRUE(saw) << type;
  }
}

}  // namespace
}  // namespace loupe
