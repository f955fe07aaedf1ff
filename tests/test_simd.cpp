// The arithmetic that makes results the same on every ISA (docs/design.md, determinism circle 3),
// checked on whichever ISA runs this: xsimd's fused ops are single roundings (tensor/simd.h),
// and the row reductions follow the order tensor/kernels/lanes.h defines, bit for bit, against
// a scalar model of that order. A kernel that summed in its native vector width would fail
// here on some ISA; `./run test-isa` then compares whole training runs across builds.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tensor/kernels/lanes.h"
#include "tensor/kernels/softmax.h"
#include "tensor/ops.h"

namespace loupe {
namespace {

using kernels::Lanes;

template <typename T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// x·x + z where the exact result needs the unrounded product: 2^-2p with one rounding, 0 with two.
template <typename T>
void expect_fused() {
  using B = xsimd::batch<T>;
  constexpr int p = std::numeric_limits<T>::digits / 2;
  const T x = T(1) + std::ldexp(T(1), -p), z = -(T(1) + std::ldexp(T(1), 1 - p)), want = std::ldexp(T(1), -2 * p);
  ASSERT_EQ(std::fma(x, x, z), want);
  EXPECT_EQ(xsimd::fma(B(x), B(x), B(z)).get(0), want) << "xsimd::fma rounds twice on " << xsimd::default_arch::name();
  EXPECT_EQ(xsimd::fms(B(x), B(x), B(-z)).get(0), want) << "xsimd::fms rounds twice";
  EXPECT_EQ(xsimd::fnma(B(-x), B(x), B(z)).get(0), want) << "xsimd::fnma rounds twice";
  EXPECT_EQ(xsimd::fnms(B(-x), B(x), B(-z)).get(0), want) << "xsimd::fnms rounds twice";
  const Lanes<T> r = kernels::fma(Lanes<T>(x), Lanes<T>(x), Lanes<T>(z));
  T out[Lanes<T>::size];
  r.store(out);
  for (T v : out) EXPECT_EQ(v, want);
}
TEST(Simd, FusedOpsRoundOnce) {
  expect_fused<float>();
  expect_fused<double>();
}

TEST(Simd, LogicalWidthIs64Bytes) {
  EXPECT_EQ(Lanes<float>::size, 16);
  EXPECT_EQ(Lanes<double>::size, 8);
}

// The order lanes.h defines: lane l folds elements l, l + W, ... in order; lanes are then added
// pairwise, halves first.
template <typename T, typename F>
T model_fold(const std::vector<T>& a, T init, F op, bool tree) {
  constexpr int64_t W = Lanes<T>::size;
  std::vector<T> lane(W, init);
  for (size_t i = 0; i < a.size(); ++i) lane[i % W] = op(lane[i % W], a[i]);
  if (!tree) {
    T m = lane[0];
    for (int64_t l = 1; l < W; ++l) m = op(m, lane[size_t(l)]);
    return m;
  }
  for (int64_t w = W / 2; w >= 1; w /= 2)
    for (int64_t l = 0; l < w; ++l) lane[size_t(l)] += lane[size_t(l + w)];
  return lane[0];
}

template <typename T>
void expect_rows_in_defined_order() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t n : {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 65, 127, 256, 1000}) {
    std::vector<T> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (auto& v : a) v = T(u(rng) * std::exp(4 * u(rng)));  // mixed magnitudes: order matters
    for (auto& v : b) v = T(u(rng));
    const T want_sum = model_fold<T>(a, T(0), [](T x, T y) { return x + y; }, true);
    EXPECT_TRUE(same_bits(kernels::row_sum(a.data(), n), want_sum)) << "row_sum n=" << n;
    // row_dot: lane l accumulates fma(a_i, b_i, acc) in order.
    constexpr int64_t W = Lanes<T>::size;
    std::vector<T> lane(W, T(0));
    for (int64_t i = 0; i < n; ++i) lane[size_t(i % W)] = std::fma(a[size_t(i)], b[size_t(i)], lane[size_t(i % W)]);
    for (int64_t w = W / 2; w >= 1; w /= 2)
      for (int64_t l = 0; l < w; ++l) lane[size_t(l)] += lane[size_t(l + w)];
    EXPECT_TRUE(same_bits(kernels::row_dot(a.data(), b.data(), n), lane[0])) << "row_dot n=" << n;
    const T mx = model_fold<T>(a, -std::numeric_limits<T>::infinity(), [](T x, T y) { return std::max(x, y); }, false);
    EXPECT_TRUE(same_bits(kernels::row_max(a.data(), n), mx)) << "row_max n=" << n;
    // sum(): blocks of 256 in lanes, block totals added in f64.
    double total = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 256)
      total += double(model_fold<T>(std::vector<T>(a.begin() + b0, a.begin() + std::min<int64_t>(n, b0 + 256)), T(0),
                                    [](T x, T y) { return x + y; }, true));
    Tensor t = Tensor::empty({n}, std::is_same_v<T, float> ? DType::F32 : DType::F64);
    std::memcpy(t.data<T>(), a.data(), size_t(n) * sizeof(T));
    EXPECT_TRUE(same_bits(T(loupe::sum(t).item()), T(total))) << "sum n=" << n;
  }
}
TEST(Simd, RowReductionsFollowTheDefinedOrder) {
  expect_rows_in_defined_order<float>();
  expect_rows_in_defined_order<double>();
}

// xsimd's functions, as tensor/simd.h configures them, over fixed grids of 2^16 inputs: an FNV-1a
// hash of the output bytes, committed from an AVX-512 build and equal on AVX2 and on AArch64
// NEON (qemu). A change of xsimd, of compiler options or of an ISA's code path shows here.
template <typename T, typename F>
uint64_t grid_hash(F f, double lo, double hi) {
  using B = xsimd::batch<T>;
  const int n = 1 << 16;
  std::vector<T> x(n), y(n);
  for (int i = 0; i < n; ++i) x[size_t(i)] = T(lo + (hi - lo) * (double(i) / n)) * T(1.0000001);
  for (int i = 0; i < n; i += int(B::size)) f(B::load_unaligned(&x[size_t(i)])).store_unaligned(&y[size_t(i)]);
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; ++i) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &y[size_t(i)], sizeof(T));
    for (unsigned char c : b) h = (h ^ c) * 1099511628211ull;
  }
  return h;
}
TEST(Simd, MathFunctionsGiveTheCommittedBits) {
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::exp(v); }, -80, 80), 0x55d3af9ae72215e9ull) << "exp f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::log(v); }, 1e-6, 1e4), 0x4ef43d48082c8da5ull) << "log f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::tanh(v); }, -10, 10), 0x3c4dbf49ba3fdc1eull) << "tanh f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::erfc(v); }, -6, 6), 0xd6cd6d09a00fddc9ull) << "erfc f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::sin(v); }, -100, 100), 0xf0fc96efb2deb802ull) << "sin f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::cos(v); }, -100, 100), 0xaf8a275c9589b16cull) << "cos f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return decltype(v)(1) / v; }, 0.1, 100), 0x84f8057539f90a56ull) << "1/x f32";
  EXPECT_EQ(grid_hash<float>([](auto v) { return xsimd::sqrt(v); }, 0.1, 100), 0x08ff6cf6a18c10afull) << "sqrt f32";
  EXPECT_EQ(grid_hash<double>([](auto v) { return xsimd::exp(v); }, -700, 700), 0x37ad22eb68776fe4ull) << "exp f64";
  EXPECT_EQ(grid_hash<double>([](auto v) { return xsimd::log(v); }, 1e-6, 1e4), 0x286388e37634c294ull) << "log f64";
  EXPECT_EQ(grid_hash<double>([](auto v) { return xsimd::tanh(v); }, -10, 10), 0x119410722cecc114ull) << "tanh f64";
  EXPECT_EQ(grid_hash<double>([](auto v) { return xsimd::erfc(v); }, -6, 6), 0x5af735dd8178a960ull) << "erfc f64";
}

}  // namespace
}  // namespace loupe
