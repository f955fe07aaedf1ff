// Fused softmax cross-entropy (tensor/kernels/cross_entropy.cpp, autograd/ops/loss.cpp)
// against naive f64 loops: awkward sizes, ignore_index, strided logits, huge logits,
// thread-count determinism and errors naming the bad row.
#include <cmath>

#include "autograd/ops.h"
#include "tensor/kernels/cross_entropy.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

Tensor rand_targets(int64_t n, int64_t v, uint64_t seed) {
  const auto u = Tensor::uniform({n}, 0, double(v), seed, DType::F64).to_vector();
  std::vector<int64_t> t;
  for (double x : u) t.push_back(std::min<int64_t>(v - 1, int64_t(x)));
  return Tensor::from_ints(t, {n});
}

struct Ref {
  double loss;
  Tensor grad;  // d loss / d logits
};

// loss = mean over kept rows of (log sum_j exp(x_ij) - x_i,t_i); grad = (softmax - onehot) / count.
Ref ref_cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore) {
  const int64_t N = logits.size(0), V = logits.size(1);
  const auto x = logits.to_vector();
  std::vector<double> g(x.size(), 0.0);
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = int64_t(targets.at({i}));
    if (t == ignore) continue;
    ++count;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < V; ++j) m = std::max(m, x[size_t(i * V + j)]);
    for (int64_t j = 0; j < V; ++j) s += std::exp(x[size_t(i * V + j)] - m);
    total += m + std::log(s) - x[size_t(i * V + t)];
    for (int64_t j = 0; j < V; ++j) g[size_t(i * V + j)] = std::exp(x[size_t(i * V + j)] - m) / s - (j == t);
  }
  for (double& v : g) v = count ? v / double(count) : 0.0;
  return {count ? total / double(count) : 0.0, Tensor::from_vector(g, logits.shape(), DType::F64)};
}

void check_against_ref(const Tensor& logits, const Tensor& targets, int64_t ignore, double rtol, double atol) {
  Var x(logits, true);
  Var loss = cross_entropy(x, targets, ignore);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_EQ(loss.dtype(), logits.dtype());
  loss.backward();
  const Ref r = ref_cross_entropy(logits, targets, ignore);
  EXPECT_NEAR(loss.item(), r.loss, atol + rtol * std::fabs(r.loss));
  EXPECT_TRUE(all_close(x.grad(), r.grad, rtol, atol));
}

}  // namespace

TEST(CrossEntropy, MatchesReferenceOnAwkwardSizes) {
  uint64_t seed = 1;
  for (DType dt : {DType::F32, DType::F64}) {
    for (int64_t n : {1, 3, 17, 65}) {
      for (int64_t v : {1, 7, 31, 127}) {
        SCOPED_TRACE("N " + std::to_string(n) + " V " + std::to_string(v));
        const Tensor logits = Tensor::uniform({n, v}, -3, 3, seed++, dt);
        check_against_ref(logits, rand_targets(n, v, seed++), -1, 1e-5, 1e-6);
      }
    }
  }
}

TEST(CrossEntropy, IgnoreIndexSkipsRowsAndCount) {
  const Tensor logits = Tensor::uniform({7, 9}, -2, 2, 3, DType::F64);
  Tensor t = Tensor::from_ints({1, -100, 8, 0, -100, 4, 4}, {7});
  check_against_ref(logits, t, -100, 1e-12, 1e-14);
  // The ignored rows get exactly zero gradient; the mean is over the 5 kept rows.
  Var x(logits, true);
  Var loss = cross_entropy(x, t, -100);
  loss.backward();
  for (int64_t j = 0; j < 9; ++j) EXPECT_EQ(x.grad().at({1, j}), 0.0);
  Tensor t5 = Tensor::from_ints({1, 8, 0, 4, 4}, {5});
  Tensor kept = index_select(logits, 0, Tensor::from_ints({0, 2, 3, 5, 6}, {5}));
  EXPECT_NEAR(loss.item(), cross_entropy(Var(kept), t5).item(), 1e-14);
  // An ignore_index inside [0, V) ignores rows with that class.
  check_against_ref(logits, Tensor::from_ints({1, 2, 8, 0, 2, 4, 4}, {7}), 2, 1e-12, 1e-14);
  // Every row ignored: loss 0 and zero gradient (not NaN).
  check_against_ref(logits, Tensor::full({7}, -1, DType::I64), -1, 0, 0);
}

TEST(CrossEntropy, StridedLogits) {
  const Tensor base = Tensor::uniform({33, 17}, -2, 2, 5, DType::F32);
  check_against_ref(base.transpose(0, 1), rand_targets(17, 33, 6), -1, 1e-5, 1e-6);
  check_against_ref(base.slice(1, 0, 17, 2), rand_targets(33, 9, 7), -1, 1e-5, 1e-6);
}

TEST(CrossEntropy, HugeLogitsStayFinite) {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor logits = Tensor::uniform({9, 65}, -1e4, 1e4, 8, dt);
    const Tensor t = rand_targets(9, 65, 9);
    Var x(logits, true);
    Var loss = cross_entropy(x, t);
    loss.backward();
    EXPECT_TRUE(std::isfinite(loss.item()));
    for (double v : x.grad().to_vector()) EXPECT_TRUE(std::isfinite(v));
    check_against_ref(logits, t, -1, 1e-5, 1e-6);
  }
}

TEST(CrossEntropy, UniformLogitsGiveLogV) {
  const Tensor logits = Tensor::zeros({4, 50});
  EXPECT_NEAR(cross_entropy(Var(logits), Tensor::from_ints({0, 49, 7, 3}, {4})).item(), std::log(50.0), 1e-6);
}

TEST(CrossEntropy, OneAndTwoThreadsBitwiseEqual) {
  const Tensor logits = Tensor::uniform({512, 300}, -4, 4, 10, DType::F32);
  Tensor t = rand_targets(512, 300, 11);
  t.set({5}, -1);
  Tensor loss[2], grad[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Var x(logits, true);
    Var l = cross_entropy(x, t, -1);
    l.backward();
    loss[threads - 1] = l.value();
    grad[threads - 1] = x.grad();
  }
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(loss[0], loss[1]));
  EXPECT_TRUE(bitwise_equal(grad[0], grad[1]));
}

TEST(CrossEntropy, Errors) {
  const Tensor logits = Tensor::zeros({3, 5});
  auto expect_error = [](auto f, std::vector<std::string> pieces) {
    try {
      f();
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      for (auto& p : pieces) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  };
  expect_error([&] { cross_entropy(Var(logits), Tensor::from_ints({0, 5, 1}, {3})); },
               {"cross_entropy", "target 5", "row 1", "5 classes"});
  expect_error([&] { cross_entropy(Var(logits), Tensor::from_ints({0, 1, -3}, {3})); }, {"target -3", "row 2"});
  expect_error([&] { cross_entropy(Var(Tensor::zeros({3})), Tensor::from_ints({0, 1, 2}, {3})); },
               {"cross_entropy", "[N, V]", "[3]"});
  expect_error([&] { cross_entropy(Var(logits), Tensor::from_ints({0, 1}, {2})); }, {"cross_entropy", "[2]", "[3, 5]"});
  expect_error([&] { cross_entropy(Var(logits), Tensor::zeros({3})); }, {"cross_entropy", "i64"});
  expect_error([&] { cross_entropy(Var(Tensor::from_ints({0, 1, 2}, {1, 3})), Tensor::from_ints({0}, {1})); },
               {"cross_entropy", "f32 or f64"});
}
