#include "tensor/reference/rotate_pairs.h"

namespace loupe::reference {

Tensor rotate_pairs_forward(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3) / 2;
  const Tensor xd = x.to(DType::F64).contiguous(), c = cos.to(DType::F64).contiguous(), s = sin.to(DType::F64).contiguous();
  Tensor y = Tensor::zeros(x.shape(), DType::F64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < P; ++i) {
          const int64_t k = ((b * T + t) * H + h) * 2 * P + 2 * i, a = (t * H + h) * P + i;
          const double e = xd.data<double>()[k], o = xd.data<double>()[k + 1];
          const double ci = c.data<double>()[a], si = s.data<double>()[a];
          y.data<double>()[k] = e * ci - o * si;
          y.data<double>()[k + 1] = e * si + o * ci;
        }
  return y.to(x.dtype());
}

RotateGrads rotate_pairs_backward(const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& g) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3) / 2;
  const Tensor xd = x.to(DType::F64).contiguous(), c = cos.to(DType::F64).contiguous(), s = sin.to(DType::F64).contiguous();
  const Tensor gd = g.to(DType::F64).contiguous();
  Tensor dx = Tensor::zeros(x.shape(), DType::F64), dc = Tensor::zeros({T, H, P}, DType::F64), ds = dc.clone();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < P; ++i) {
          const int64_t k = ((b * T + t) * H + h) * 2 * P + 2 * i, a = (t * H + h) * P + i;
          const double ge = gd.data<double>()[k], go = gd.data<double>()[k + 1];
          const double e = xd.data<double>()[k], o = xd.data<double>()[k + 1];
          const double ci = c.data<double>()[a], si = s.data<double>()[a];
          dx.data<double>()[k] = ge * ci + go * si;
          dx.data<double>()[k + 1] = go * ci - ge * si;
          dc.data<double>()[a] += ge * e + go * o;
          ds.data<double>()[a] += go * e - ge * o;
        }
  return {dx.to(x.dtype()), dc.to(x.dtype()), ds.to(x.dtype())};
}

}  // namespace loupe::reference
