#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "tensor/parallel.h"

namespace loupe::optim {

// Elements per block of the sum of squares: fixed, so the rounding never depends on threads.
static constexpr int64_t kNormBlock = 1 << 13;

// Σ g_i² over elements [lo, hi), in f64 with four running sums (helps the compiler vectorise
// without reassociating).
template <class T>
static double block_sum_squares(const T* g, int64_t lo, int64_t hi) {
  double s[4] = {0, 0, 0, 0};
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += double(g[i + k]) * double(g[i + k]);
  for (; i < hi; ++i) s[0] += double(g[i]) * double(g[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

double grad_global_norm(const std::vector<Var>& params) {
  // The blocks of every parameter in one parallel loop; then the block sums are added in
  // order per parameter, and the parameters' sums in order.
  struct Block {
    size_t param;
    int64_t lo, hi;
  };
  std::vector<Tensor> grads;
  std::vector<Block> blocks;
  for (const auto& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g.contiguous());
    for (int64_t lo = 0; lo < g.numel(); lo += kNormBlock)
      blocks.push_back({grads.size() - 1, lo, std::min(g.numel(), lo + kNormBlock)});
  }
  std::vector<double> partial(blocks.size(), 0.0);
  parallel_for(int64_t(blocks.size()), 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const Block& k = blocks[size_t(b)];
      const Tensor& g = grads[k.param];
      LOUPE_DISPATCH(g.dtype(), T, { partial[size_t(b)] = block_sum_squares(g.data<T>(), k.lo, k.hi); });
    }
  });
  double total = 0, param_sum = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    param_sum += partial[b];
    if (b + 1 == blocks.size() || blocks[b + 1].param != blocks[b].param) {
      total += param_sum;
      param_sum = 0;
    }
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
