// Dropout: y = x ⊙ m / (1 − p) with m a Philox mask (tensor/kernels/dropout.h);
// backward: dx = dy ⊙ m / (1 − p), the mask recomputed from (seed, counter) instead of stored.
#include <algorithm>

#include "autograd/nn_ops.h"
#include "tensor/kernels/dropout.h"
#include "tensor/parallel.h"

namespace loupe {

LOUPE_REGISTER_OP("dropout");

// out[i] = in[i] * keep(i) / (1 - p), in chunks of 4096 elements (1024 Philox blocks, made
// 16 at a time by philox4x32_blocks), each kept iff its word >= the threshold.
template <typename T>
static void apply_mask(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t counter) {
  constexpr int64_t kChunk = 4096;
  const T scale = T(1.0 / (1.0 - p));
  const uint64_t threshold = kernels::dropout_threshold(p);
  parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    alignas(64) uint32_t words[kChunk];
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i0 = c * kChunk, m = std::min(kChunk, n - i0);
      philox4x32_blocks(seed, counter, uint64_t(i0 / 4), (m + 3) / 4, words);
      for (int64_t j = 0; j < m; ++j) out[i0 + j] = uint64_t(words[j]) >= threshold ? in[i0 + j] * scale : T(0);
    }
  });
}

Var dropout(const Var& x, double p, uint64_t seed, uint64_t counter) {
  LOUPE_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
  if (p == 0) return x;
  const DType dt = x.dtype();
  Tensor xc = x.value().contiguous();
  Tensor y = Tensor::empty(x.shape(), dt);
  LOUPE_DISPATCH(dt, T, apply_mask<T>(xc.data<T>(), y.data<T>(), y.numel(), p, seed, counter));
  return make_result("dropout", y, {x}, [=](const Tensor& g) {
    Tensor gc = g.contiguous(), dx = Tensor::empty(gc.shape(), dt);
    LOUPE_DISPATCH(dt, T, apply_mask<T>(gc.data<T>(), dx.data<T>(), dx.numel(), p, seed, counter));
    return std::vector<Tensor>{dx};
  });
}

}  // namespace loupe
