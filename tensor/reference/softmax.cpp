#include "tensor/reference/softmax.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace loupe::reference {

namespace {

// Calls row(in..., out, n) on every row along `dim` of f64 copies of the inputs (dim moved
// last); returns out, moved back and in the first input's dtype.
Tensor by_rows(const std::vector<Tensor>& inputs, int64_t dim,
               const std::function<void(const std::vector<const double*>&, double*, int64_t)>& row) {
  const Tensor& first = inputs[0];
  const int64_t nd = std::max<int64_t>(first.dim(), 1);  // a scalar is one row of one
  LOUPE_CHECK(dim >= -nd && dim < nd, "softmax: dim ", dim, " out of range for ", first.str());
  const int64_t d = dim < 0 ? dim + nd : dim, last = nd - 1;
  std::vector<Tensor> rows;
  for (const Tensor& t : inputs) rows.push_back(t.to(DType::F64).reshape(nd == t.dim() ? t.shape() : Shape{1}).transpose(d, last).contiguous());
  Tensor out = Tensor::empty(rows[0].shape(), DType::F64);
  const int64_t n = rows[0].size(last), count = n == 0 ? 0 : rows[0].numel() / n;
  for (int64_t r = 0; r < count; ++r) {
    std::vector<const double*> in;
    for (const Tensor& t : rows) in.push_back(t.data<double>() + r * n);
    row(in, out.data<double>() + r * n, n);
  }
  return out.transpose(d, last).contiguous().reshape(first.shape()).to(first.dtype());
}

double row_max(const double* x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return by_rows({x}, dim, [](const std::vector<const double*>& in, double* y, int64_t n) {
    const double m = row_max(in[0], n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += y[i] = std::exp(in[0][i] - m);
    for (int64_t i = 0; i < n; ++i) y[i] /= sum;
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return by_rows({x}, dim, [](const std::vector<const double*>& in, double* y, int64_t n) {
    const double m = row_max(in[0], n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(in[0][i] - m);
    const double lse = m + std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = in[0][i] - lse;
  });
}

Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return by_rows({y, g}, dim, [](const std::vector<const double*>& in, double* dx, int64_t n) {
    double gy = 0;
    for (int64_t i = 0; i < n; ++i) gy += in[1][i] * in[0][i];
    for (int64_t i = 0; i < n; ++i) dx[i] = in[0][i] * (in[1][i] - gy);
  });
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return by_rows({y, g}, dim, [](const std::vector<const double*>& in, double* dx, int64_t n) {
    double gsum = 0;
    for (int64_t i = 0; i < n; ++i) gsum += in[1][i];
    for (int64_t i = 0; i < n; ++i) dx[i] = in[1][i] - std::exp(in[0][i]) * gsum;
  });
}

}  // namespace loupe::reference
