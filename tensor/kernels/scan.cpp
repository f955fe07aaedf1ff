// cumsum along any dim, forward and reversed.
//
// x is viewed as [outer, n, inner] (n = size of dim). Each running sum walks
// its line along dim in order (k = 0, 1, ..., n-1, or reversed), so the result
// is the same for any thread count; threads split the independent lines.
// The inner loop runs over `inner` adjacent lines at once, which is contiguous
// memory and vectorises without changing any line's summation order.
// The running sums are kept in double for f32 too, so long scans do not drift.
#include "tensor/kernels/scan.h"

#include <vector>

#include "tensor/ops.h"
#include "tensor/parallel.h"

namespace loupe {
namespace {

constexpr int64_t kInnerBlock = 256;  // lines scanned together by one task

template <typename T>
void scan_lines(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t tasks = outer * blocks;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(n * std::min(inner, kInnerBlock), 1));
  parallel_for(tasks, grain, [&](int64_t tb, int64_t te) {
    double acc[kInnerBlock];
    for (int64_t t = tb; t < te; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * kInnerBlock;
      const int64_t w = std::min(kInnerBlock, inner - j0);
      const T* xs = x + o * n * inner + j0;
      T* ys = y + o * n * inner + j0;
      for (int64_t j = 0; j < w; ++j) acc[j] = 0.0;
      for (int64_t s = 0; s < n; ++s) {
        const int64_t k = reverse ? n - 1 - s : s;
        for (int64_t j = 0; j < w; ++j) {
          acc[j] += double(xs[k * inner + j]);
          ys[k * inner + j] = T(acc[j]);
        }
      }
    }
  });
}

Tensor scan(const char* op, const Tensor& x, int64_t dim, bool reverse) {
  LOUPE_CHECK(x.defined() && is_floating(x.dtype()), op, ": expected an f32 or f64 tensor, got ", x.str());
  const int64_t r = std::max<int64_t>(x.dim(), 1);
  LOUPE_CHECK(dim >= -r && dim < r, op, ": dim ", dim, " out of range for ", x.str());
  const int64_t d = dim < 0 ? dim + r : dim;
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  if (x.numel() == 0) return out;
  int64_t outer = 1, inner = 1;
  const int64_t n = x.dim() ? x.shape()[size_t(d)] : 1;
  for (int64_t k = 0; k < d; ++k) outer *= x.shape()[size_t(k)];
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.shape()[size_t(k)];
  LOUPE_DISPATCH(x.dtype(), T, { scan_lines<T>(xc.data<T>(), out.data<T>(), outer, n, inner, reverse); });
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim) { return scan("cumsum", x, dim, false); }
Tensor cumsum_reverse(const Tensor& x, int64_t dim) { return scan("cumsum_reverse", x, dim, true); }

}  // namespace loupe
