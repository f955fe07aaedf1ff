// Textbook LayerNorm and RMSNorm over rows of C values (twins of tensor/kernels/norm.h, same
// arguments). f64 accumulation, one row at a time.
//   LayerNorm: μ = Σx/C,  σ² = Σ(x − μ)²/C,  r = 1/√(σ² + eps),  x̂ = (x − μ)·r,  y = w ⊙ x̂ + b
//     backward, g = dy ⊙ w:  dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  dw = Σ_rows dy ⊙ x̂,  db = Σ_rows dy
//   RMSNorm:   r = 1/√(Σx²/C + eps),  y = w ⊙ x · r
//     backward:  dx = r · (g − x̂ · mean(g ⊙ x̂)) with x̂ = x·r,  dw = Σ_rows dy ⊙ x̂
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace loupe::reference {

template <typename T>
void layernorm_forward(int64_t rows, int64_t C, const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                       T* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    double mu = 0, var = 0;
    for (int64_t i = 0; i < C; ++i) mu += double(xr[i]);
    mu /= double(C);
    for (int64_t i = 0; i < C; ++i) var += (double(xr[i]) - mu) * (double(xr[i]) - mu);
    const double rs = 1.0 / std::sqrt(var / double(C) + eps);
    for (int64_t i = 0; i < C; ++i)
      y[r * C + i] = T((double(xr[i]) - mu) * rs * double(w[i]) + (b ? double(b[i]) : 0.0));
    mean[r] = T(mu);
    rstd[r] = T(rs);
  }
}

template <typename T>
void layernorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* mean, const T* rstd, const T* dy,
                        T* dx, T* dw, T* db) {
  std::vector<double> sw(size_t(C), 0.0), sb(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * C, *gr = dy + r * C;
    const double mu = double(mean[r]), rs = double(rstd[r]);
    double mg = 0, mgx = 0;  // mean(g), mean(g ⊙ x̂)
    for (int64_t i = 0; i < C; ++i) {
      const double xh = (double(xr[i]) - mu) * rs, g = double(gr[i]) * double(w[i]);
      mg += g;
      mgx += g * xh;
      sw[size_t(i)] += double(gr[i]) * xh;
      sb[size_t(i)] += double(gr[i]);
    }
    mg /= double(C);
    mgx /= double(C);
    if (dx)
      for (int64_t i = 0; i < C; ++i) {
        const double xh = (double(xr[i]) - mu) * rs, g = double(gr[i]) * double(w[i]);
        dx[r * C + i] = T(rs * (g - mg - xh * mgx));
      }
  }
  for (int64_t i = 0; i < C; ++i) {
    if (dw) dw[i] = T(sw[size_t(i)]);
    if (db) db[i] = T(sb[size_t(i)]);
  }
}

template <typename T>
void rmsnorm_forward(int64_t rows, int64_t C, const T* x, const T* w, double eps, T* y, T* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    double ms = 0;
    for (int64_t i = 0; i < C; ++i) ms += double(xr[i]) * double(xr[i]);
    const double rs = 1.0 / std::sqrt(ms / double(C) + eps);
    for (int64_t i = 0; i < C; ++i) y[r * C + i] = T(double(xr[i]) * rs * double(w[i]));
    rstd[r] = T(rs);
  }
}

template <typename T>
void rmsnorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw) {
  std::vector<double> sw(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * C, *gr = dy + r * C;
    const double rs = double(rstd[r]);
    double mgx = 0;
    for (int64_t i = 0; i < C; ++i) {
      const double xh = double(xr[i]) * rs;
      mgx += double(gr[i]) * double(w[i]) * xh;
      sw[size_t(i)] += double(gr[i]) * xh;
    }
    mgx /= double(C);
    if (dx)
      for (int64_t i = 0; i < C; ++i)
        dx[r * C + i] = T(rs * (double(gr[i]) * double(w[i]) - double(xr[i]) * rs * mgx));
  }
  if (dw)
    for (int64_t i = 0; i < C; ++i) dw[i] = T(sw[size_t(i)]);
}

}  // namespace loupe::reference
