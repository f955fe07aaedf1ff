#include "tensor/stats.h"

#include <cmath>
#include <vector>

#include "tensor/parallel.h"

namespace loupe {

double TensorStats::rms() const { return finite ? std::sqrt(sumsq / double(finite)) : 0.0; }

// The exact pass: each value classified (used where a chunk holds a NaN or Inf, and for tails).
template <typename T>
void add_exact(const T* p, int64_t n, TensorStats& s) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = double(p[i]);
    if (std::isfinite(x)) {
      s.min = std::min(s.min, x);
      s.max = std::max(s.max, x);
      s.sum += x;
      s.sumsq += x * x;
      ++s.finite;
    } else if (std::isnan(x)) {
      ++s.nan;
    } else {
      ++s.inf;
    }
  }
}

// One chunk: L interleaved accumulators (a fixed order the compiler can vectorise), assuming
// every value is finite; x·0 ≠ 0 flags a NaN or Inf, and then the chunk is redone exactly.
template <typename T>
TensorStats chunk_stats(const T* p, int64_t n) {
  constexpr int64_t L = 8;
  double sum[L] = {}, sq[L] = {}, lo[L], hi[L];
  int bad[L] = {};
  for (int64_t j = 0; j < L; ++j) lo[j] = INFINITY, hi[j] = -INFINITY;
  const int64_t m = n / L * L;
  for (int64_t i = 0; i < m; i += L)
    for (int64_t j = 0; j < L; ++j) {
      const double x = double(p[i + j]);
      sum[j] += x;
      sq[j] += x * x;
      lo[j] = x < lo[j] ? x : lo[j];
      hi[j] = x > hi[j] ? x : hi[j];
      bad[j] |= !(x * 0.0 == 0.0);
    }
  TensorStats s;
  int any_bad = 0;
  for (int64_t j = 0; j < L; ++j) any_bad |= bad[j];
  if (any_bad) {
    add_exact(p, n, s);
    return s;
  }
  for (int64_t j = 0; j < L; ++j) s.sum += sum[j], s.sumsq += sq[j], s.min = std::min(s.min, lo[j]), s.max = std::max(s.max, hi[j]);
  s.finite = m;
  add_exact(p + m, n - m, s);
  return s;
}

TensorStats tensor_stats(const Tensor& t) {
  LOUPE_CHECK(t.defined() && is_floating(t.dtype()), "tensor_stats: needs a float tensor");
  const Tensor c = t.contiguous();
  constexpr int64_t kChunk = 1 << 16;
  const int64_t n = c.numel(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<TensorStats> part(static_cast<size_t>(chunks));
  LOUPE_DISPATCH(c.dtype(), T, {
    const T* p = c.data<T>();
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t k = c0; k < c1; ++k) part[size_t(k)] = chunk_stats(p + k * kChunk, std::min(kChunk, n - k * kChunk));
    });
  });
  TensorStats all;
  for (auto& s : part) {
    all.min = std::min(all.min, s.min);
    all.max = std::max(all.max, s.max);
    all.sum += s.sum;
    all.sumsq += s.sumsq;
    all.finite += s.finite;
    all.nan += s.nan;
    all.inf += s.inf;
  }
  return all;
}

}  // namespace loupe
