// cumsum and its reverse (tensor/kernels/scan.cpp) against naive f64 loops:
// every dim, awkward sizes, strided inputs, thread-count determinism, errors.
#include "autograd/ops.h"
#include "tensor/kernels/scan.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

// out[o, i, j] = sum over k <= i (or k >= i when reverse) of x[o, k, j], in f64.
Tensor ref_cumsum(const Tensor& x, int64_t dim, bool reverse) {
  const Shape& s = x.shape();
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  int64_t outer = 1, inner = 1;
  const int64_t n = s[size_t(d)];
  for (int64_t k = 0; k < d; ++k) outer *= s[size_t(k)];
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= s[size_t(k)];
  const auto v = x.to_vector();
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j)
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0;
        for (int64_t k = 0; k < n; ++k)
          if (reverse ? k >= i : k <= i) acc += v[size_t((o * n + k) * inner + j)];
        out[size_t((o * n + i) * inner + j)] = acc;
      }
  return Tensor::from_vector(out, s, DType::F64);
}

}  // namespace

TEST(Scan, CumsumMatchesReferenceOnEveryDim) {
  const std::vector<Shape> shapes = {{1}, {7}, {3, 17}, {31, 5}, {2, 65, 3}, {1, 127}, {4, 3, 300}};
  uint64_t seed = 1;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const Shape& s : shapes) {
      const Tensor x = Tensor::uniform(s, -1, 1, seed++, dt);
      for (int64_t d = -int64_t(s.size()); d < int64_t(s.size()); ++d) {
        SCOPED_TRACE(x.str() + " dim " + std::to_string(d));
        const Tensor y = cumsum(x, d), r = cumsum_reverse(x, d);
        EXPECT_EQ(y.dtype(), dt);
        EXPECT_TRUE(all_close(y, ref_cumsum(x, d, false), 1e-6, 1e-6));
        EXPECT_TRUE(all_close(r, ref_cumsum(x, d, true), 1e-6, 1e-6));
      }
    }
  }
}

TEST(Scan, ExactOnIntegers) {
  const Tensor x = Tensor::arange(12, DType::F32).view({3, 4});
  EXPECT_EQ(cumsum(x, 1).to_vector(), (std::vector<double>{0, 1, 3, 6, 4, 9, 15, 22, 8, 17, 27, 38}));
  EXPECT_EQ(cumsum(x, 0).to_vector(), (std::vector<double>{0, 1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21}));
  EXPECT_EQ(cumsum_reverse(x, 1).to_vector(), (std::vector<double>{6, 6, 5, 3, 22, 18, 13, 7, 38, 30, 21, 11}));
}

TEST(Scan, StridedInputs) {
  const Tensor base = Tensor::uniform({17, 31}, -1, 1, 5, DType::F64);
  for (const Tensor& x : {base.transpose(0, 1), base.slice(1, 2, 31, 4), base.slice(0, 0, 17, 2).transpose(0, 1)}) {
    for (int64_t d : {0, 1}) {
      EXPECT_TRUE(all_close(cumsum(x, d), ref_cumsum(x, d, false), 1e-12, 1e-12));
      EXPECT_TRUE(all_close(cumsum_reverse(x, d), ref_cumsum(x, d, true), 1e-12, 1e-12));
    }
  }
}

TEST(Scan, LongF32ScanDoesNotDrift) {
  // 1e5 additions of 0.1 in f32 drift by ~1e-1 with an f32 accumulator; ours keeps f64.
  const Tensor x = Tensor::full({100000}, 0.1, DType::F32);
  const double last = cumsum(x, 0).to_vector().back();
  EXPECT_NEAR(last, 100000 * double(0.1f), 1e-2);
}

TEST(Scan, OneAndTwoThreadsBitwiseEqual) {
  const Tensor x = Tensor::uniform({64, 130, 9}, -1, 1, 9, DType::F32);
  Tensor r1[4], r2[4];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor* r = threads == 1 ? r1 : r2;
    r[0] = cumsum(x, 0);
    r[1] = cumsum(x, 1);
    r[2] = cumsum(x, 2);
    r[3] = cumsum_reverse(x, 1);
  }
  set_num_threads(2);
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(bitwise_equal(r1[k], r2[k])) << "result " << k;
}

TEST(Scan, VarBackwardIsReverseCumsum) {
  Var x(Tensor::uniform({2, 5}, -1, 1, 3, DType::F64), true);
  const Tensor g = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5}, DType::F64);
  cumsum(x, 1).backward(g);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{15, 14, 12, 9, 5, 40, 34, 27, 19, 10}));
}

TEST(Scan, Errors) {
  try {
    cumsum(Tensor::zeros({2, 3}), 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cumsum"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cumsum(Tensor::from_ints({1, 2}, {2}), 0), Error);
}
