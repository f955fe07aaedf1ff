// Rotary position embedding (Su et al. 2021), interleaved-pair convention:
// the pair (x[2i], x[2i+1]) of each head at position p is rotated by p·θ_i,
// θ_i = base^(−2i/D). The backward rotates the gradient back by −p·θ_i.
#include <cmath>

#include "autograd/nn_ops.h"
#include "tensor/parallel.h"

namespace loupe {

LOUPE_REGISTER_OP("rope");

// x, y: [B, T, H, D] contiguous; cos/sin: [T, D/2]. sign = +1 rotates forward, −1 back.
template <typename T>
static void rotate(const T* x, T* y, const T* cs, const T* sn, int64_t B, int64_t Tn, int64_t H, int64_t D,
                   T sign) {
  const int64_t half = D / 2;
  parallel_for(B * Tn, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r % Tn;
      const T* c = cs + t * half;
      const T* s = sn + t * half;
      for (int64_t h = 0; h < H; ++h) {
        const T* xr = x + (r * H + h) * D;
        T* yr = y + (r * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const T a = xr[2 * i], b = xr[2 * i + 1], si = sign * s[i];
          yr[2 * i] = a * c[i] - b * si;
          yr[2 * i + 1] = a * si + b * c[i];
        }
      }
    }
  });
}

Var rope(const Var& x, int64_t pos_offset, double base) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rope: input must be [B, T, H, D] with D even, got ",
              x.value().str());
  LOUPE_CHECK(pos_offset >= 0 && base > 0, "rope: pos_offset must be >= 0 and base > 0, got ", pos_offset, ", ", base);
  const int64_t B = x.size(0), Tn = x.size(1), H = x.size(2), D = x.size(3), half = D / 2;
  const DType dt = x.dtype();
  // Angle table in f64 (then rounded once to the working dtype).
  Tensor cs = Tensor::empty({Tn, half}, DType::F64), sn = Tensor::empty({Tn, half}, DType::F64);
  for (int64_t t = 0; t < Tn; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double ang = double(pos_offset + t) * std::pow(base, -2.0 * double(i) / double(D));
      cs.data<double>()[t * half + i] = std::cos(ang);
      sn.data<double>()[t * half + i] = std::sin(ang);
    }
  cs = cs.to(dt), sn = sn.to(dt);
  Tensor xc = x.value().contiguous(), y = Tensor::empty(x.shape(), dt);
  LOUPE_DISPATCH(dt, T, rotate<T>(xc.data<T>(), y.data<T>(), cs.data<T>(), sn.data<T>(), B, Tn, H, D, T(1)));
  return make_result("rope", y, {x}, [=](const Tensor& g) {
    Tensor gc = g.contiguous(), dx = Tensor::empty(gc.shape(), dt);
    LOUPE_DISPATCH(dt, T, rotate<T>(gc.data<T>(), dx.data<T>(), cs.data<T>(), sn.data<T>(), B, Tn, H, D, T(-1)));
    return std::vector<Tensor>{dx};
  });
}

}  // namespace loupe
