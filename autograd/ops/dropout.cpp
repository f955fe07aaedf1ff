// Dropout: y = x ⊙ m / (1 − p) with m a Philox mask (tensor/kernels/dropout.h);
// backward: dx = dy ⊙ m / (1 − p), the mask recomputed from (seed, counter) instead of stored.
#include "autograd/nn_ops.h"
#include "tensor/kernels/dropout.h"
#include "tensor/parallel.h"

namespace loupe {

LOUPE_REGISTER_OP("dropout");

// out[i] = in[i] * keep(i) / (1 - p), in chunks of 4096 elements (DropoutMask::apply).
template <typename T>
static void apply_mask(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t counter) {
  constexpr int64_t kChunk = 4096;
  const T scale = T(1.0 / (1.0 - p));
  const kernels::DropoutMask mask(seed, counter, p);
  parallel_for(n, kChunk, [&](int64_t i0, int64_t i1) { mask.apply(uint64_t(i0), i1 - i0, in + i0, out + i0, scale); });
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
