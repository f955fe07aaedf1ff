#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "tensor/parallel.h"

namespace loupe::optim {

// Elements per block of the sum of squares: fixed, so the rounding never depends on threads.
static constexpr int64_t kNormBlock = 1 << 13;

template <class T>
static double sum_squares(const T* g, int64_t n) {
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> partial(size_t(blocks), 0.0);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      // Four running sums per block (helps the compiler vectorise without reassociating).
      double s[4] = {0, 0, 0, 0};
      const int64_t lo = b * kNormBlock, hi = std::min(n, lo + kNormBlock);
      int64_t i = lo;
      for (; i + 4 <= hi; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += double(g[i + k]) * double(g[i + k]);
      for (; i < hi; ++i) s[0] += double(g[i]) * double(g[i]);
      partial[size_t(b)] = (s[0] + s[1]) + (s[2] + s[3]);
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

double grad_global_norm(const std::vector<Var>& params) {
  double total = 0;
  for (const auto& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    const Tensor gc = g.contiguous();
    LOUPE_DISPATCH(gc.dtype(), T, { total += sum_squares(gc.data<T>(), gc.numel()); });
  }
  return std::sqrt(total);
}

double clip_coefficient(double total_norm, double max_norm) {
  LOUPE_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  return std::min(1.0, max_norm / (total_norm + 1e-6));
}

double clip_grad_norm_(const std::vector<Var>& params, double max_norm) {
  const double norm = grad_global_norm(params);
  const double coef = clip_coefficient(norm, max_norm);
  if (coef >= 1.0) return norm;
  for (const auto& p : params) {
    Var v = p;
    Tensor& g = v.mutable_grad();
    if (!g.defined()) continue;
    if (!g.is_contiguous()) g = g.contiguous();
    const int64_t n = g.numel();
    LOUPE_DISPATCH(g.dtype(), T, {
      T* d = g.data<T>();
      const T c = T(coef);
      parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) d[i] *= c;
      });
    });
  }
  return norm;
}

}  // namespace loupe::optim
