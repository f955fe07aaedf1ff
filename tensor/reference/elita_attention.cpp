#include "tensor/reference/elita_attention.h"

#include <cmath>
#include <vector>

namespace loupe::reference {

namespace {
// f64 copies, indexed [b, t, h] and [b, t, h, e].
struct Views {
  Tensor a, g, d, v;
  int64_t B, T, H, E;
  Views(const Tensor& a_, const Tensor& g_, const Tensor& d_, const Tensor& v_)
      : a(a_.to(DType::F64).contiguous()), g(g_.to(DType::F64).contiguous()), d(d_.to(DType::F64).contiguous()),
        v(v_.to(DType::F64).contiguous()), B(v_.size(0)), T(v_.size(1)), H(v_.size(2)), E(v_.size(3)) {}
  double s(const Tensor& x, int64_t b, int64_t t, int64_t h) const { return x.data<double>()[(b * T + t) * H + h]; }
  const double* val(int64_t b, int64_t t, int64_t h) const { return v.data<double>() + ((b * T + t) * H + h) * E; }
};

// Weights of query (b, i, h): P[0] the diagonal, P[1 + j] key j ≤ i; returns lse.
double weights(const Views& x, int64_t b, int64_t i, int64_t h, std::vector<double>& P) {
  P.assign(size_t(i + 2), 0.0);
  P[0] = x.s(x.d, b, i, h);
  for (int64_t j = 0; j <= i; ++j) P[size_t(j + 1)] = x.s(x.g, b, i, h) + x.s(x.a, b, j, h);
  double mx = -INFINITY, sum = 0;
  for (double z : P) mx = std::max(mx, z);
  for (double& z : P) sum += (z = std::exp(z - mx));
  for (double& z : P) z /= sum;
  return mx + std::log(sum);
}
}  // namespace

ElitaForwardResult elita_attention_forward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v) {
  const Views x(a, g, d, v);
  Tensor y = Tensor::zeros(v.shape(), DType::F64), lse = Tensor::zeros({x.B, x.T, x.H}, DType::F64);
  std::vector<double> P;
  for (int64_t b = 0; b < x.B; ++b)
    for (int64_t i = 0; i < x.T; ++i)
      for (int64_t h = 0; h < x.H; ++h) {
        lse.data<double>()[(b * x.T + i) * x.H + h] = weights(x, b, i, h, P);
        double* yi = y.data<double>() + ((b * x.T + i) * x.H + h) * x.E;
        for (int64_t e = 0; e < x.E; ++e) {
          double acc = P[0] * x.val(b, i, h)[e];
          for (int64_t j = 0; j <= i; ++j) acc += P[size_t(j + 1)] * x.val(b, j, h)[e];
          yi[e] = acc;
        }
      }
  return {y.to(v.dtype()), lse.to(v.dtype())};
}

ElitaGrads elita_attention_backward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v,
                                    const Tensor& y, const Tensor& lse, const Tensor& gy) {
  const Views x(a, g, d, v);
  const Tensor yd = y.to(DType::F64).contiguous(), gd = gy.to(DType::F64).contiguous();
  Tensor da = Tensor::zeros(a.shape(), DType::F64), dg = Tensor::zeros(g.shape(), DType::F64);
  Tensor dd = Tensor::zeros(d.shape(), DType::F64), dv = Tensor::zeros(v.shape(), DType::F64);
  std::vector<double> P;
  for (int64_t b = 0; b < x.B; ++b)
    for (int64_t i = 0; i < x.T; ++i)
      for (int64_t h = 0; h < x.H; ++h) {
        weights(x, b, i, h, P);
        const int64_t r = (b * x.T + i) * x.H + h;
        const double *gi = gd.data<double>() + r * x.E, *yi = yd.data<double>() + r * x.E;
        double delta = 0;
        for (int64_t e = 0; e < x.E; ++e) delta += gi[e] * yi[e];
        // entry 0: the diagonal (value v_i); entry 1 + j: key j (value v_j)
        for (int64_t n = 0; n <= i + 1; ++n) {
          const int64_t j = n == 0 ? i : n - 1;
          const double* vj = x.val(b, j, h);
          double* dvj = dv.data<double>() + ((b * x.T + j) * x.H + h) * x.E;
          double gv = 0;
          for (int64_t e = 0; e < x.E; ++e) gv += gi[e] * vj[e], dvj[e] += P[size_t(n)] * gi[e];
          const double dz = P[size_t(n)] * (gv - delta);
          if (n == 0) dd.data<double>()[r] += dz;
          else dg.data<double>()[r] += dz, da.data<double>()[(b * x.T + j) * x.H + h] += dz;
        }
      }
  return {da.to(a.dtype()), dg.to(g.dtype()), dd.to(d.dtype()), dv.to(v.dtype())};
}

}  // namespace loupe::reference
