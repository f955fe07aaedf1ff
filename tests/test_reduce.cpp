// Reductions (tensor/kernels/reduce.cpp) against naive f64 loops: every dim set,
// negative dims, keepdim, strided inputs, both loop shapes (inner runs and columns),
// long f32 sums, sum_to_shape, argmax, 1-vs-2-thread bitwise equality and misuse errors.
#include <cmath>
#include <functional>
#include <limits>

#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

enum class Kind { Sum, Mean, Max, Min, Var0, Var1 };

// Naive f64 reduction: walks every element of x in row-major order and folds it into
// the output element it belongs to.
Tensor ref_reduce(const Tensor& x, std::vector<int64_t> dims, bool keepdim, Kind kind) {
  const int64_t nd = x.dim();
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int64_t d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  Shape oshape, okeep;
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[size_t(d)]) oshape.push_back(x.shape()[size_t(d)]);
    okeep.push_back(red[size_t(d)] ? 1 : x.shape()[size_t(d)]);
  }
  const int64_t nout = shape_numel(oshape);
  const double init = kind == Kind::Max ? -INFINITY : kind == Kind::Min ? INFINITY : 0;
  std::vector<double> acc(size_t(nout), init), sq(size_t(nout), 0);
  std::vector<int64_t> cnt(size_t(nout), 0);
  const auto v = x.to_vector();
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    int64_t rem = i, o = 0, mul = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t id = rem % x.shape()[size_t(d)];
      rem /= x.shape()[size_t(d)];
      if (!red[size_t(d)]) {
        o += id * mul;
        mul *= x.shape()[size_t(d)];
      }
    }
    double& a = acc[size_t(o)];
    a = kind == Kind::Max ? std::max(a, v[size_t(i)]) : kind == Kind::Min ? std::min(a, v[size_t(i)]) : a + v[size_t(i)];
    sq[size_t(o)] += v[size_t(i)] * v[size_t(i)];
    cnt[size_t(o)]++;
  }
  std::vector<double> out(static_cast<size_t>(nout));
  for (size_t o = 0; o < out.size(); ++o) {
    const double n = double(cnt[o]), m = acc[o] / n;
    switch (kind) {
      case Kind::Mean: out[o] = m; break;
      case Kind::Var0: out[o] = (sq[o] - n * m * m) / n; break;
      case Kind::Var1: out[o] = (sq[o] - n * m * m) / (n - 1); break;
      default: out[o] = acc[o];
    }
  }
  return Tensor::from_vector(out, keepdim ? okeep : oshape, DType::F64);
}

Tensor run(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, Kind kind) {
  switch (kind) {
    case Kind::Sum: return sum(x, dims, keepdim);
    case Kind::Mean: return mean(x, dims, keepdim);
    case Kind::Max: return amax(x, dims, keepdim);
    case Kind::Min: return amin(x, dims, keepdim);
    case Kind::Var0: return var(x, dims, keepdim, 0);
    case Kind::Var1: return var(x, dims, keepdim, 1);
  }
  return {};
}

const char* kind_name(Kind k) {
  const char* names[] = {"sum", "mean", "amax", "amin", "var0", "var1"};
  return names[int(k)];
}

std::string dims_str(const std::vector<int64_t>& d) { return shape_str(d); }

const std::vector<Kind> kKinds = {Kind::Sum, Kind::Mean, Kind::Max, Kind::Min, Kind::Var0, Kind::Var1};

}  // namespace

TEST(Reduce, EveryDimSetMatchesReference) {
  const std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {-3, -2}, {1, 2}, {2, 0, 1}};
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor x = Tensor::uniform({7, 17, 31}, -1, 1, 1, dt);
    // Also strided: a permuted view and a stepped slice of a larger tensor.
    const Tensor xp = Tensor::uniform({31, 7, 17}, -1, 1, 2, dt).permute({1, 2, 0});
    const Tensor xs = Tensor::uniform({7, 17, 65}, -1, 1, 3, dt).slice(2, 1, 63, 2);
    for (const Tensor& t : {x, xp, xs})
      for (Kind k : kKinds)
        for (const auto& dims : dim_sets)
          for (bool keep : {false, true}) {
            SCOPED_TRACE(std::string(kind_name(k)) + " dims " + dims_str(dims) + " keep " + std::to_string(keep) + " " +
                         t.str() + (t.is_contiguous() ? "" : " strided"));
            const Tensor got = run(t, dims, keep, k);
            EXPECT_EQ(got.dtype(), dt);
            const double tol = dt == DType::F32 ? 2e-6 : 1e-13;
            EXPECT_TRUE(all_close(got, ref_reduce(t, dims, keep, k), tol, tol));
          }
  }
}

TEST(Reduce, AwkwardSizesBothLoopShapes) {
  // Inner runs (reduce the unit-stride dim) and columns (reduce the outer dim) for sizes
  // around SIMD widths and the 256-element block.
  for (int64_t n : {1, 3, 7, 15, 16, 17, 31, 65, 255, 256, 257, 1000}) {
    for (int64_t m : {1, 5, 64, 67}) {
      SCOPED_TRACE("n " + std::to_string(n) + " m " + std::to_string(m));
      const Tensor x = Tensor::uniform({n, m}, -1, 1, uint64_t(n * 100 + m));
      for (Kind k : {Kind::Sum, Kind::Max, Kind::Min})
        for (int64_t d : {0, 1}) {
          // f32 rounding of partial sums grows like sqrt(length) * eps * |partials|.
          const double atol = 1e-6 + 2e-7 * std::sqrt(double(x.shape()[size_t(d)]));
          EXPECT_TRUE(all_close(run(x, {d}, false, k), ref_reduce(x, {d}, false, k), 2e-6, atol));
        }
    }
  }
}

TEST(Reduce, LongF32SumIsAccurate) {
  // 1e6 f32 values in [0, 1): a plain running f32 sum drifts by ~1e-4 relative; the
  // blocked sum with f64 block totals stays within an f32 rounding of the f64 reference.
  const int64_t n = 1000000;
  const Tensor x = Tensor::uniform({n}, 0, 1, 42);
  const auto v = x.to_vector();
  double ref = 0;
  float naive = 0;
  for (double e : v) ref += e, naive += float(e);
  const double got = sum(x).item();
  EXPECT_LE(std::fabs(got - ref) / ref, 1e-7) << "got " << got << " ref " << ref;
  EXPECT_GT(std::fabs(double(naive) - ref) / ref, 1e-6) << "the naive f32 sum should be visibly worse";
  EXPECT_NEAR(mean(x).item(), ref / double(n), 1e-7);
  // Same along a strided column: [n/8, 8] summed over dim 0 (the column loop).
  const Tensor c = x.view({n / 8, 8});
  const Tensor s = sum(c, {0});
  const Tensor r = ref_reduce(c, {0}, false, Kind::Sum);
  EXPECT_TRUE(all_close(s, r, 2e-7, 0));
}

TEST(Reduce, ArgmaxFirstIndexOfMax) {
  const Tensor x = Tensor::from_vector({1.0, 5.0, 5.0, 2.0, 7.0, 0.0, 7.0, 7.0}, {2, 4}, DType::F32);
  EXPECT_EQ(argmax(x, 1).to_vector(), (std::vector<double>{1, 0}));
  EXPECT_EQ(argmax(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmax(x, 0).to_vector(), (std::vector<double>{1, 0, 1, 1}));
  EXPECT_EQ(argmax(x, 0).dtype(), DType::I64);
  // Against a loop on a transposed tensor.
  const Tensor y = Tensor::uniform({33, 17}, -1, 1, 5, DType::F64).transpose(0, 1);  // [17, 33]
  const Tensor am = argmax(y, 1);
  for (int64_t i = 0; i < 17; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < 33; ++j)
      if (y.at({i, j}) > y.at({i, best})) best = j;
    EXPECT_EQ(int64_t(am.at({i})), best);
  }
}

TEST(Reduce, SumToShape) {
  const Tensor g = Tensor::uniform({2, 3, 5}, -1, 1, 6, DType::F64);
  EXPECT_TRUE(all_close(sum_to_shape(g, {5}), ref_reduce(g, {0, 1}, false, Kind::Sum), 1e-14, 1e-14));
  EXPECT_TRUE(all_close(sum_to_shape(g, {3, 5}), ref_reduce(g, {0}, false, Kind::Sum), 1e-14, 1e-14));
  EXPECT_TRUE(all_close(sum_to_shape(g, {1, 3, 1}), ref_reduce(g, {0, 2}, true, Kind::Sum), 1e-14, 1e-14));
  EXPECT_TRUE(all_close(sum_to_shape(g, {3, 1}), ref_reduce(g, {0, 2}, true, Kind::Sum).reshape({3, 1}), 1e-14, 1e-14));
  EXPECT_TRUE(all_close(sum_to_shape(g, {}), ref_reduce(g, {}, false, Kind::Sum), 1e-14, 1e-14));
  EXPECT_TRUE(bitwise_equal(sum_to_shape(g, {2, 3, 5}), g));
  EXPECT_THROW(sum_to_shape(g, {4}), Error);
  EXPECT_THROW(sum_to_shape(g, {1, 2, 3, 5}), Error);
}

TEST(Reduce, OneVsTwoThreadsBitwiseEqual) {
  const Tensor big = Tensor::uniform({1 << 20}, -1, 1, 7);           // many superblocks of one output
  const Tensor rows = Tensor::uniform({515, 1031}, -1, 1, 8);         // inner runs, many outputs
  const Tensor cols = Tensor::uniform({4099, 67}, -1, 1, 9);          // column loop
  const Tensor tr = Tensor::uniform({1031, 515}, -1, 1, 10).transpose(0, 1);
  auto go = [&] {
    return std::vector<Tensor>{sum(big), mean(big), sum(rows, {1}), sum(cols, {0}), amax(cols, {0}),
                               mean(tr, {0, 1}), var(rows, {0}), sum(tr, {1}), argmax(rows, 1),
                               sum_to_shape(rows.view({5, 103, 1031}), {1031})};
  };
  set_num_threads(1);
  const auto one = go();
  set_num_threads(2);
  const auto two = go();
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << "result " << i;
}

TEST(Reduce, EmptyAndScalar) {
  EXPECT_EQ(sum(Tensor::zeros({0, 3}), {0}).to_vector(), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(Tensor::zeros({0})).item()));
  EXPECT_EQ(sum(Tensor::scalar(2.5)).item(), 2.5);
  EXPECT_EQ(sum(Tensor::scalar(2.5)).dim(), 0);
  EXPECT_EQ(sum(Tensor::ones({4, 1, 3}), {1}).shape(), (Shape{4, 3}));
  EXPECT_THROW(amax(Tensor::zeros({0})), Error);
}

TEST(Reduce, MisuseThrowsNamingOpAndShapes) {
  const Tensor x = Tensor::zeros({2, 3});
  try {
    sum(x, {2});
    FAIL() << "dim out of range must throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("sum"), std::string::npos) << m;
    EXPECT_NE(m.find("2"), std::string::npos) << m;
  }
  EXPECT_THROW(mean(x, {0, -2}), Error);  // the same dim twice
  EXPECT_THROW(amax(x, {-3}), Error);
  EXPECT_THROW(argmax(x, 2), Error);
  EXPECT_THROW(sum(Tensor::from_ints({1, 2}, {2})), Error);
  try {
    sum_to_shape(x, {4});
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  }
}
