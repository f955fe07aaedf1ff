// softmax / log_softmax (tensor/kernels/softmax.cpp) against naive f64 loops:
// every dim, awkward sizes, strided inputs, huge logits, thread-count determinism,
// the closed-form backwards, and misuse errors.
#include <cmath>

#include "autograd/ops.h"
#include "tensor/kernels/softmax.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

// Applies f(in_line, out_line) to every line along `dim` of a row-major value list.
template <typename F>
std::vector<double> map_lines(const std::vector<double>& v, const Shape& shape, int64_t dim, F f) {
  int64_t outer = 1, inner = 1;
  const int64_t n = shape[size_t(dim)];
  for (int64_t k = 0; k < dim; ++k) outer *= shape[size_t(k)];
  for (size_t k = size_t(dim) + 1; k < shape.size(); ++k) inner *= shape[k];
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      std::vector<double> line(static_cast<size_t>(n)), res(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) line[size_t(i)] = v[size_t((o * n + i) * inner + j)];
      f(line, res);
      for (int64_t i = 0; i < n; ++i) out[size_t((o * n + i) * inner + j)] = res[size_t(i)];
    }
  return out;
}

void ref_softmax_line(const std::vector<double>& x, std::vector<double>& y) {
  double m = -INFINITY, s = 0;
  for (double v : x) m = std::max(m, v);
  for (double v : x) s += std::exp(v - m);
  for (size_t i = 0; i < x.size(); ++i) y[i] = std::exp(x[i] - m) / s;
}
void ref_log_softmax_line(const std::vector<double>& x, std::vector<double>& y) {
  double m = -INFINITY, s = 0;
  for (double v : x) m = std::max(m, v);
  for (double v : x) s += std::exp(v - m);
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] - m - std::log(s);
}

Tensor ref(const Tensor& x, int64_t dim, bool log) {
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  auto out = map_lines(x.to_vector(), x.shape(), d, log ? ref_log_softmax_line : ref_softmax_line);
  return Tensor::from_vector(out, x.shape(), DType::F64);
}

}  // namespace

TEST(Softmax, MatchesReferenceOnEveryDimAndAwkwardSizes) {
  const std::vector<Shape> shapes = {{1}, {3}, {7, 17}, {31, 65}, {5, 127}, {2, 3, 129}, {3, 1, 33}};
  uint64_t seed = 1;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const Shape& s : shapes) {
      const Tensor x = Tensor::uniform(s, -4, 4, seed++, dt);
      for (int64_t d = -int64_t(s.size()); d < int64_t(s.size()); ++d) {
        SCOPED_TRACE(x.str() + " dim " + std::to_string(d));
        const Tensor y = softmax(x, d), ly = log_softmax(x, d);
        EXPECT_EQ(y.dtype(), dt);
        EXPECT_EQ(y.shape(), s);
        EXPECT_TRUE(y.is_contiguous());
        EXPECT_TRUE(all_close(y, ref(x, d, false), 1e-5, 1e-7));
        EXPECT_TRUE(all_close(ly, ref(x, d, true), 1e-5, 1e-5));
      }
    }
  }
}

TEST(Softmax, StridedInputs) {
  const Tensor base = Tensor::uniform({17, 31}, -3, 3, 7, DType::F32);
  const Tensor t = base.transpose(0, 1);       // [31, 17], last dim has stride 31
  const Tensor sl = base.slice(1, 1, 30, 3);   // [17, 10], stride 3
  for (const Tensor& x : {t, sl}) {
    for (int64_t d : {0, 1}) {
      EXPECT_TRUE(all_close(softmax(x, d), ref(x, d, false), 1e-5, 1e-7));
      EXPECT_TRUE(all_close(log_softmax(x, d), ref(x, d, true), 1e-5, 1e-5));
    }
  }
  // A 3-D permuted view, softmax over the middle dim.
  const Tensor p = Tensor::uniform({4, 5, 6}, -2, 2, 8, DType::F64).permute({2, 0, 1});
  EXPECT_TRUE(all_close(softmax(p, 1), ref(p, 1, false), 1e-12, 1e-14));
}

TEST(Softmax, HugeLogitsStayFinite) {
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor x = Tensor::uniform({9, 65}, -1e4, 1e4, 3, dt);
    const Tensor y = softmax(x, -1), ly = log_softmax(x, -1);
    for (double v : y.to_vector()) EXPECT_TRUE(std::isfinite(v));
    for (double v : ly.to_vector()) EXPECT_TRUE(std::isfinite(v));
    EXPECT_TRUE(all_close(y, ref(x, -1, false), 1e-5, 1e-7));
    EXPECT_TRUE(all_close(ly, ref(x, -1, true), 1e-5, 1e-2));  // |log p| ~ 1e4: relative f32 error
    // A row of equal huge values is exactly uniform.
    const Tensor same = Tensor::full({2, 17}, 1e4, dt);
    for (double v : softmax(same, 1).to_vector()) EXPECT_NEAR(v, 1.0 / 17, 1e-7);
    for (double v : log_softmax(same, 1).to_vector()) EXPECT_NEAR(v, -std::log(17.0), 1e-5);
  }
}

TEST(Softmax, RowsSumToOne) {
  const Tensor x = Tensor::uniform({13, 200}, -10, 10, 11, DType::F32);
  const auto y = softmax(x, 1).to_vector();
  for (int r = 0; r < 13; ++r) {
    double s = 0;
    for (int j = 0; j < 200; ++j) s += y[size_t(r * 200 + j)];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
}

TEST(Softmax, OneAndTwoThreadsBitwiseEqual) {
  const Tensor x = Tensor::uniform({128, 517}, -5, 5, 21, DType::F32);
  const Tensor g = Tensor::uniform({128, 517}, -1, 1, 22, DType::F32);
  Tensor r1[6], r2[6];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor* r = threads == 1 ? r1 : r2;
    r[0] = softmax(x, -1);
    r[1] = log_softmax(x, -1);
    r[2] = softmax(x, 0);
    r[3] = softmax_backward(r[0], g, -1);
    r[4] = log_softmax_backward(r[1], g, -1);
    r[5] = softmax_backward(r[2], g, 0);
  }
  set_num_threads(2);
  for (int k = 0; k < 6; ++k) EXPECT_TRUE(bitwise_equal(r1[k], r2[k])) << "result " << k;
}

TEST(Softmax, BackwardKernelsMatchReference) {
  for (int64_t d : {0, 1, 2}) {
    const Shape s = {3, 17, 7};
    const Tensor x = Tensor::uniform(s, -2, 2, 31 + uint64_t(d), DType::F64);
    // A strided gradient: a transposed view of a contiguous tensor.
    const Tensor g = Tensor::uniform({7, 17, 3}, -1, 1, 41, DType::F64).permute({2, 1, 0});
    const Tensor y = softmax(x, d), ly = log_softmax(x, d);
    const auto yv = y.to_vector(), lyv = ly.to_vector(), gv = g.to_vector();
    // Reference: dx = y * (g - sum(g*y)) and dx = g - exp(ly) * sum(g), line by line.
    int64_t outer = 1, inner = 1;
    const int64_t n = s[size_t(d)];
    for (int64_t k = 0; k < d; ++k) outer *= s[size_t(k)];
    for (int64_t k = d + 1; k < 3; ++k) inner *= s[size_t(k)];
    std::vector<double> ds(yv.size()), dl(yv.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        double dot = 0, sg = 0;
        for (int64_t i = 0; i < n; ++i) {
          const size_t at = size_t((o * n + i) * inner + j);
          dot += gv[at] * yv[at];
          sg += gv[at];
        }
        for (int64_t i = 0; i < n; ++i) {
          const size_t at = size_t((o * n + i) * inner + j);
          ds[at] = yv[at] * (gv[at] - dot);
          dl[at] = gv[at] - std::exp(lyv[at]) * sg;
        }
      }
    EXPECT_TRUE(all_close(softmax_backward(y, g, d), Tensor::from_vector(ds, s, DType::F64), 1e-10, 1e-12));
    EXPECT_TRUE(all_close(log_softmax_backward(ly, g, d), Tensor::from_vector(dl, s, DType::F64), 1e-10, 1e-12));
  }
}

TEST(Softmax, VarBackwardUsesClosedForm) {
  // d/dx of sum(w * softmax(x)) = y * (w - sum(w*y)); checked directly on one row.
  const Tensor x = Tensor::from_vector({0.5, -1.0, 2.0}, {1, 3}, DType::F64);
  const Tensor w = Tensor::from_vector({1.0, 2.0, 3.0}, {1, 3}, DType::F64);
  Var v(x, true);
  Var y = softmax(v, 1);
  y.backward(w);
  const auto yv = y.value().to_vector();
  const double dot = yv[0] * 1 + yv[1] * 2 + yv[2] * 3;
  const auto gx = v.grad().to_vector();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(gx[size_t(i)], yv[size_t(i)] * ((i + 1) - dot), 1e-14);
}

TEST(Softmax, Errors) {
  const Tensor x = Tensor::zeros({2, 3});
  try {
    softmax(x, 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(log_softmax(x, -3), Error);
  EXPECT_THROW(softmax(Tensor::from_ints({1, 2}, {2}), 0), Error);
  EXPECT_THROW(softmax_backward(x, Tensor::zeros({3, 2}), 1), Error);
  EXPECT_THROW(log_softmax_backward(x, Tensor::zeros({2, 3}, DType::F64), 1), Error);
}
