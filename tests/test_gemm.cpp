// GEMM kernel vs a naive f64 triple loop: awkward sizes, every transpose combination,
// padded leading dimensions, column-major C, alpha/beta (beta = 0 must ignore NaN in C),
// batched forms with broadcast (stride 0) operands, and 1 vs 2 threads bit for bit.
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tensor/error.h"
#include "tensor/kernels/gemm.h"
#include "tensor/kernels/gemm_blocking.h"
#include "tensor/kernels/transpose_block.h"
#include "tensor/parallel.h"

using namespace loupe;
using namespace loupe::kernels;

namespace {

// Deterministic values in [-1, 1) (a small LCG: tests need no quality, only reproducibility).
template <typename T>
std::vector<T> random_values(size_t n, uint64_t seed) {
  std::vector<T> v(n);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = T(double(s >> 11) / double(1ULL << 53) * 2.0 - 1.0);
  }
  return v;
}

// A matrix stored with padding: element (i, j) at data[i * rs + j * cs].
template <typename T>
struct Mat {
  int64_t rows, cols, rs, cs;
  std::vector<T> data;
  // Row-major (or column-major when `colmajor`) with `pad` extra elements per leading dimension.
  Mat(int64_t r, int64_t c, bool colmajor, int64_t pad, uint64_t seed) : rows(r), cols(c) {
    const int64_t ld = (colmajor ? r : c) + pad;
    rs = colmajor ? 1 : ld;
    cs = colmajor ? ld : 1;
    data = random_values<T>(size_t(std::max<int64_t>(1, (colmajor ? c : r) * ld)), seed);
  }
  T at(int64_t i, int64_t j) const { return data[size_t(i * rs + j * cs)]; }
  MatRef<T> ref() const { return {data.data(), rs, cs}; }
};

struct Case {
  int64_t m, n, k;
  bool ta, tb, c_colmajor;
  int64_t pad;
  double alpha, beta;
};

// Runs one case; checks against the f64 reference with a tolerance scaled by sum_p |a b|.
template <typename T>
void check_case(const Case& cs, uint64_t seed, std::vector<T>* out = nullptr) {
  SCOPED_TRACE(::testing::Message() << "m=" << cs.m << " n=" << cs.n << " k=" << cs.k << " ta=" << cs.ta
                                    << " tb=" << cs.tb << " ccol=" << cs.c_colmajor << " pad=" << cs.pad
                                    << " alpha=" << cs.alpha << " beta=" << cs.beta);
  // op(A) is m x k: stored as A (m x k) or as Aᵀ (k x m) read with swapped strides.
  Mat<T> as(cs.ta ? cs.k : cs.m, cs.ta ? cs.m : cs.k, false, cs.pad, seed);
  Mat<T> bs(cs.tb ? cs.n : cs.k, cs.tb ? cs.k : cs.n, false, cs.pad, seed + 1);
  Mat<T> c(cs.m, cs.n, cs.c_colmajor, cs.pad, seed + 2);
  auto A = [&](int64_t i, int64_t p) { return double(cs.ta ? as.at(p, i) : as.at(i, p)); };
  auto B = [&](int64_t p, int64_t j) { return double(cs.tb ? bs.at(j, p) : bs.at(p, j)); };
  if (cs.beta == 0)
    for (auto& x : c.data) x = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> c0 = c.data;

  MatRef<T> ra{as.data.data(), cs.ta ? as.cs : as.rs, cs.ta ? as.rs : as.cs};
  MatRef<T> rb{bs.data.data(), cs.tb ? bs.cs : bs.rs, cs.tb ? bs.rs : bs.cs};
  gemm<T>(cs.m, cs.n, cs.k, T(cs.alpha), ra, rb, T(cs.beta), c.data.data(), c.rs, c.cs);

  const double eps = std::numeric_limits<T>::epsilon();
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = 0; j < cs.n; ++j) {
      double acc = 0, mag = 0;
      for (int64_t p = 0; p < cs.k; ++p) acc += A(i, p) * B(p, j), mag += std::fabs(A(i, p) * B(p, j));
      const double old = cs.beta == 0 ? 0.0 : double(c0[size_t(i * c.rs + j * c.cs)]);
      const double want = cs.alpha * acc + cs.beta * old;
      const double tol = 2 * eps * (double(cs.k + 2) * std::fabs(cs.alpha) * mag + std::fabs(cs.beta * old)) + 1e-300;
      const double got = double(c.at(i, j));
      ASSERT_TRUE(std::fabs(got - want) <= tol) << "at (" << i << ", " << j << "): got " << got << " want " << want;
    }
  // Nothing outside the m x n window of C (the padding) was touched.
  for (int64_t r = 0; r < (cs.c_colmajor ? cs.n : cs.m); ++r)
    for (int64_t q = (cs.c_colmajor ? cs.m : cs.n); q < (cs.c_colmajor ? cs.m : cs.n) + cs.pad; ++q) {
      const size_t idx = size_t(r * (cs.c_colmajor ? c.cs : c.rs) + q);
      if (idx < c.data.size()) {
        ASSERT_TRUE(std::memcmp(&c.data[idx], &c0[idx], sizeof(T)) == 0) << "padding written";
      }
    }
  if (out) *out = c.data;
}

template <typename T>
bool same_bits(const std::vector<T>& x, const std::vector<T>& y) {
  return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0);
}

const int64_t kSizes[] = {1, 2, 3, 7, 15, 17, 31, 33, 63, 65, 127, 129, 257};
constexpr int kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]);

// A mix of all m x n pairs, with k, transposes, layouts and alpha/beta cycling through their values.
std::vector<Case> awkward_cases() {
  std::vector<Case> cases;
  const double alphas[] = {1.0, -0.5, 2.0}, betas[] = {0.0, 1.0, 0.25, -1.5};
  int t = 0;
  for (int i = 0; i < kNumSizes; ++i)
    for (int j = 0; j < kNumSizes; ++j, ++t) {
      Case c;
      c.m = kSizes[i];
      c.n = kSizes[j];
      c.k = kSizes[(i * 5 + j * 3 + t) % kNumSizes];
      c.ta = t & 1;
      c.tb = (t >> 1) & 1;
      c.c_colmajor = t % 7 == 3;
      c.pad = t % 3 == 0 ? 0 : (t % 3 == 1 ? 3 : 16);
      c.alpha = alphas[t % 3];
      c.beta = betas[(t / 3) % 4];
      cases.push_back(c);
    }
  return cases;
}

template <typename T>
void run_awkward() {
  uint64_t seed = 1;
  for (const Case& c : awkward_cases()) {
    check_case<T>(c, seed += 7);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace

TEST(Gemm, AwkwardSizesF32) { run_awkward<float>(); }
TEST(Gemm, AwkwardSizesF64) { run_awkward<double>(); }

TEST(Gemm, AllTransposeCombinations) {
  for (int t = 0; t < 4; ++t)
    for (bool ccol : {false, true}) {
      check_case<float>({65, 33, 129, bool(t & 1), bool(t & 2), ccol, 5, 1.5, 0.5}, 100 + t);
      check_case<double>({33, 65, 17, bool(t & 1), bool(t & 2), ccol, 0, -1.0, 0.0}, 200 + t);
    }
}

// Crosses every blocking boundary: several pc blocks (K > KC), several ic blocks (M > MC)
// and several jc panels (N > NC), each with a ragged remainder.
TEST(Gemm, BlockBoundaries) {
  using BF = GemmBlocking<float>;
  using BD = GemmBlocking<double>;
  check_case<float>({BF::MR + 1, 9, 2 * BF::KC + 5, false, true, false, 1, 1.0, 1.0}, 11);
  check_case<float>({2 * BF::MC + 3, gemm_nr<float> + 1, 7, true, false, false, 0, 1.0, 0.0}, 12);
  check_case<float>({3, BF::NC + 5, 5, false, false, false, 2, 1.0, 0.5}, 13);
  check_case<double>({BD::MC + 1, BD::NC + 3, 3, false, false, false, 0, 1.0, 0.0}, 14);
  check_case<double>({5, 7, 2 * BD::KC + 1, true, true, true, 0, 0.5, 2.0}, 15);
}

TEST(Gemm, AlphaZeroAndEmpty) {
  std::vector<float> c = {1, 2, 3, 4};
  const float a[4] = {NAN, NAN, NAN, NAN};  // never read when alpha == 0
  gemm<float>(2, 2, 2, 0.0f, {a, 2, 1}, {a, 2, 1}, 3.0f, c.data(), 2, 1);
  EXPECT_EQ(c, (std::vector<float>{3, 6, 9, 12}));
  gemm<float>(2, 2, 0, 1.0f, {a, 2, 1}, {a, 2, 1}, 0.0f, c.data(), 2, 1);  // k == 0: C = beta * C = 0
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
  gemm<float>(0, 2, 2, 1.0f, {a, 2, 1}, {a, 2, 1}, 0.0f, c.data(), 2, 1);  // m == 0: nothing to do
  EXPECT_THROW(gemm<float>(-1, 2, 2, 1.0f, {a, 2, 1}, {a, 2, 1}, 0.0f, c.data(), 2, 1), Error);
}

TEST(Gemm, RowMajorConvenience) {
  // [1 2; 3 4] * [5 6; 7 8]ᵀ = [17 23; 39 53]
  const double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
  double c[4];
  gemm_rowmajor<double>(false, true, 2, 2, 2, 1.0, a, 2, b, 2, 0.0, c, 2);
  EXPECT_EQ(std::vector<double>(c, c + 4), (std::vector<double>{17, 23, 39, 53}));
  gemm_rowmajor<double>(true, false, 2, 2, 2, 1.0, a, 2, b, 2, 0.0, c, 2);  // Aᵀ B = [26 30; 38 44]
  EXPECT_EQ(std::vector<double>(c, c + 4), (std::vector<double>{26, 30, 38, 44}));
}

// The same product with 1 and with 2 threads gives the same bits (sizes large enough to go parallel,
// split by rows, by columns, and ragged).
template <typename T>
void check_threads_bitwise() {
  const Case cases[] = {{257, 129, 400, false, false, false, 0, 1.0, 0.0},
                        {17, 1100, 129, true, false, false, 3, 1.0, 0.5},
                        {129, 257, 65, false, true, true, 0, -2.0, 1.0},
                        {1000, 33, 300, true, true, false, 1, 1.0, 0.0}};
  for (const Case& c : cases) {
    std::vector<T> r1, r2;
    set_num_threads(1);
    check_case<T>(c, 77, &r1);
    set_num_threads(2);
    check_case<T>(c, 77, &r2);
    EXPECT_TRUE(same_bits(r1, r2)) << "m=" << c.m << " n=" << c.n;
  }
}
TEST(Gemm, ThreadsBitwiseF32) { check_threads_bitwise<float>(); }
TEST(Gemm, ThreadsBitwiseF64) { check_threads_bitwise<double>(); }

// Batched: A with its own batch stride, B broadcast (stride 0), C contiguous per batch;
// small matrices (parallel over the batch) and large ones (parallel inside each product).
template <typename T>
void check_batched(int64_t batch, int64_t m, int64_t n, int64_t k, bool tb, int threads, std::vector<T>* out) {
  set_num_threads(threads);
  const int64_t sa = m * k + 3;  // a gap between matrices
  auto a = random_values<T>(size_t(batch * sa), 5);
  auto b = random_values<T>(size_t(k * n), 6);  // one B for every batch (stride 0)
  std::vector<T> c(size_t(batch * m * n), std::numeric_limits<T>::quiet_NaN());
  MatRef<T> rb{b.data(), tb ? 1 : n, tb ? k : 1};  // tb: B stored n x k, read transposed
  gemm_batched<T>(batch, m, n, k, T(1), {a.data(), k, 1}, sa, rb, 0, T(0), c.data(), n, 1, m * n);
  const double eps = std::numeric_limits<T>::epsilon();
  for (int64_t q = 0; q < batch; ++q)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0, mag = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double x = double(a[size_t(q * sa + i * k + p)]) * double(b[size_t(p * rb.rs + j * rb.cs)]);
          acc += x;
          mag += std::fabs(x);
        }
        ASSERT_NEAR(double(c[size_t(q * m * n + i * n + j)]), acc, 2 * eps * double(k + 1) * mag + 1e-300)
            << "batch " << q << " (" << i << ", " << j << ")";
      }
  *out = c;
}

TEST(Gemm, BatchedBroadcastAndThreads) {
  for (auto [batch, m, n, k] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{7, 17, 31, 9}, {3, 129, 65, 200},
                                {1, 3, 3, 3}, {0, 3, 3, 3}}) {
    std::vector<float> r1, r2;
    check_batched<float>(batch, m, n, k, false, 1, &r1);
    check_batched<float>(batch, m, n, k, false, 2, &r2);
    EXPECT_TRUE(same_bits(r1, r2)) << "batch " << batch;
    std::vector<double> d1, d2;
    check_batched<double>(batch, m, n, k, true, 1, &d1);
    check_batched<double>(batch, m, n, k, true, 2, &d2);
    EXPECT_TRUE(same_bits(d1, d2)) << "batch " << batch;
  }
  set_num_threads(2);
}

// Packing only moves values, so how A and B are stored (row-major, transposed, padded) must not
// change a single bit of C: the transposed layouts go through the register-block transposes of
// transpose_block.h (16 x 16 on AVX-512, 8 x 8 on AVX2), the others through plain copies.
template <typename T>
void check_layouts_same_bits(int64_t m, int64_t n, int64_t k) {
  SCOPED_TRACE(::testing::Message() << "m=" << m << " n=" << n << " k=" << k);
  const auto a = random_values<T>(size_t(m * k), uint64_t(m * 7 + k)), b = random_values<T>(size_t(k * n), uint64_t(n * 5 + k));
  std::vector<T> first;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1;  // padded leading dimensions
    std::vector<T> as(size_t((ta ? k : m) * lda)), bs(size_t((tb ? n : k) * ldb)), c(size_t(m * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) as[size_t(ta ? p * lda + i : i * lda + p)] = a[size_t(i * k + p)];
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) bs[size_t(tb ? j * ldb + p : p * ldb + j)] = b[size_t(p * n + j)];
    gemm_rowmajor<T>(ta, tb, m, n, k, T(1), as.data(), lda, bs.data(), ldb, T(0), c.data(), n);
    if (t == 0)
      first = c;
    else
      EXPECT_TRUE(same_bits(first, c)) << "ta=" << ta << " tb=" << tb << " differs from the row-major layouts";
  }
}

TEST(Gemm, StorageLayoutDoesNotChangeBits) {
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 9, 8}, {17, 33, 16}, {31, 65, 129},
                         {65, 17, 400}, {129, 47, 47}, {6, 16, 24}, {14, 32, 48}})
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      check_layouts_same_bits<float>(m, n, k);
      check_layouts_same_bits<double>(m, n, k);
    }
  set_num_threads(2);
}

// transpose_block moves block x block floats; rows past `rows` read as zeros, and each column's
// values past `width` are never written (GEMM's A panels are MR < block wide).
TEST(Gemm, TransposeBlockMovesEveryValueAndNothingElse) {
  constexpr int TB = kTransposeBlock;
  if (TB == 0) GTEST_SKIP() << "this instruction set has no register transpose (scalar packing only)";
  const int64_t ss = TB + 3;
  const auto src = random_values<float>(size_t(TB * ss), 9);
  for (int rows = 0; rows <= TB; ++rows)
    for (int width = 1; width <= TB; ++width) {
      const int64_t ds = width + 2;
      std::vector<float> dst(size_t(TB * ds + 4), -7.0f);
      transpose_block(src.data(), ss, rows, dst.data(), ds, width);
      for (int64_t c = 0; c < TB; ++c)
        for (int64_t r = 0; r < ds; ++r) {
          const float want = r >= width ? -7.0f : r < rows ? src[size_t(r * ss + c)] : 0.0f;
          ASSERT_EQ(dst[size_t(c * ds + r)], want) << "rows=" << rows << " width=" << width << " column " << c << " row " << r;
        }
      for (size_t i = size_t(TB * ds); i < dst.size(); ++i) ASSERT_EQ(dst[i], -7.0f) << "written past the last column";
    }
}

TEST(Gemm, BatchedRejectsSharedOutput) {
  float x[4] = {};
  EXPECT_THROW(gemm_batched<float>(2, 2, 2, 1, 1.0f, {x, 1, 1}, 0, {x, 1, 1}, 0, 0.0f, x, 2, 1, 0), Error);
}
