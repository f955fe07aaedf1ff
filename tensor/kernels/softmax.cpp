// softmax / log_softmax over any dim, and their closed-form backwards.
//
// The hot path is a contiguous last dim: each row is handled by one thread with
// xsimd loops (parallel over rows). Any other dim is first transposed to the
// last position and made contiguous, then transposed back; that costs two
// copies but keeps one kernel per op.
//
// Stability: softmax(x) = exp(x - m) / sum(exp(x - m)) with m = max(x), so the
// largest exponent is exp(0) = 1 and nothing overflows even for logits of 1e4.
#include "tensor/kernels/softmax.h"

#include <cmath>
#include <limits>

#include "tensor/kernels/lanes.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tensor/simd.h"

namespace loupe {
namespace kernels {

// Every row loop runs in Lanes<T> (tensor/kernels/lanes.h): a fixed 64-byte logical width,
// the row tail padded with a neutral value, so each result has the same bits on every ISA.
template <typename T>
T row_max(const T* x, int64_t n) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  const T ninf = -std::numeric_limits<T>::infinity();
  L acc(ninf);
  int64_t i = 0;
  for (; i + W <= n; i += W) acc = max(acc, L::load(x + i));
  if (i < n) acc = max(acc, L::load_partial(x + i, n - i, ninf));
  return hmax(acc);
}

template <typename T>
T row_exp_sum(const T* x, T m, T* y, int64_t n) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  const L bm(m);
  const auto vexp = [](auto v) { return xsimd::exp(v); };
  L acc(T(0));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const L e = (L::load(x + i) - bm).map(vexp);
    if (y) e.store(y + i);
    acc += e;
  }
  if (i < n) {  // pad -inf: exp(-inf - m) = 0
    const L e = (L::load_partial(x + i, n - i, -std::numeric_limits<T>::infinity()) - bm).map(vexp);
    if (y) e.store_partial(y + i, n - i);
    acc += e;
  }
  return hsum(acc);
}

template <typename T>
T row_dot(const T* a, const T* b, int64_t n) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  L acc(T(0));
  int64_t i = 0;
  for (; i + W <= n; i += W) acc = fma(L::load(a + i), L::load(b + i), acc);
  if (i < n) acc = fma(L::load_partial(a + i, n - i, T(0)), L::load_partial(b + i, n - i, T(0)), acc);
  return hsum(acc);
}

template <typename T>
T row_sum(const T* a, int64_t n) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  L acc(T(0));
  int64_t i = 0;
  for (; i + W <= n; i += W) acc += L::load(a + i);
  if (i < n) acc += L::load_partial(a + i, n - i, T(0));
  return hsum(acc);
}

template <typename T>
T row_logsumexp(const T* x, int64_t n) {
  const T m = row_max(x, n);
  return m + log1(row_exp_sum<T>(x, m, nullptr, n));
}

template float row_max<float>(const float*, int64_t);
template double row_max<double>(const double*, int64_t);
template float row_exp_sum<float>(const float*, float, float*, int64_t);
template double row_exp_sum<double>(const double*, double, double*, int64_t);
template float row_dot<float>(const float*, const float*, int64_t);
template double row_dot<double>(const double*, const double*, int64_t);
template float row_sum<float>(const float*, int64_t);
template double row_sum<double>(const double*, int64_t);
template float row_logsumexp<float>(const float*, int64_t);
template double row_logsumexp<double>(const double*, int64_t);

}  // namespace kernels

namespace {

using kernels::exp1;
using kernels::log1;
using kernels::row_dot;
using kernels::row_exp_sum;
using kernels::row_max;
using kernels::row_sum;

// y = exp(x - m) / s
template <typename T>
void softmax_row(const T* x, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  const T m = row_max(x, n);
  const T inv = T(1) / row_exp_sum(x, m, y, n);
  int64_t i = 0;
  for (; i + W <= n; i += W) (B::load_unaligned(y + i) * B(inv)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] *= inv;
}

// y = (x - m) - log(s)
template <typename T>
void log_softmax_row(const T* x, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  const T m = row_max(x, n);
  const T log_s = log1(row_exp_sum<T>(x, m, nullptr, n));
  int64_t i = 0;
  for (; i + W <= n; i += W) ((B::load_unaligned(x + i) - B(m)) - B(log_s)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = (x[i] - m) - log_s;
}

// dx = y * (g - sum(g * y))
template <typename T>
void softmax_backward_row(const T* y, const T* g, T* dx, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  const T dot = row_dot(g, y, n);
  int64_t i = 0;
  for (; i + W <= n; i += W)
    (B::load_unaligned(y + i) * (B::load_unaligned(g + i) - B(dot))).store_unaligned(dx + i);
  for (; i < n; ++i) dx[i] = y[i] * (g[i] - dot);
}

// dx = g - exp(y) * sum(g)
template <typename T>
void log_softmax_backward_row(const T* y, const T* g, T* dx, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  const T sg = row_sum(g, n);
  int64_t i = 0;
  for (; i + W <= n; i += W)
    xsimd::fnma(xsimd::exp(B::load_unaligned(y + i)), B(sg), B::load_unaligned(g + i)).store_unaligned(dx + i);
  // The tail as the lanes: xsimd's exp (exp1) and one rounding for g - e·sg.
  for (; i < n; ++i) dx[i] = std::fma(-exp1(y[i]), sg, g[i]);
}

int64_t wrap_dim(const Tensor& x, int64_t dim, const char* op) {
  const int64_t r = std::max<int64_t>(x.dim(), 1);  // a 0-d tensor is one row of one element
  LOUPE_CHECK(dim >= -r && dim < r, op, ": dim ", dim, " out of range for ", x.str());
  return dim < 0 ? dim + r : dim;
}

// x with dim `d` swapped to the last position, contiguous: a [rows, n] matrix.
Tensor to_rows(const Tensor& x, int64_t d) {
  if (x.dim() == 0) return x.reshape({1});
  return (d == x.dim() - 1 ? x : x.transpose(d, x.dim() - 1)).contiguous();
}
// Inverse of to_rows, for a result laid out like to_rows(x, d).
Tensor from_rows(const Tensor& r, const Tensor& x, int64_t d) {
  if (x.dim() == 0) return r.reshape({});
  return d == x.dim() - 1 ? r : r.transpose(d, x.dim() - 1).contiguous();
}

// Calls row(r) for every row; each row's result depends only on that row.
template <typename F>
void for_rows(int64_t rows, int64_t n, F&& row) {
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(n, 1));
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) row(r);
  });
}

// out = row_fn(x) row by row along dim.
template <template <typename> class RowFn>
Tensor unary_rows(const char* op, const Tensor& x, int64_t dim) {
  LOUPE_CHECK(x.defined() && is_floating(x.dtype()), op, ": expected an f32 or f64 tensor, got ", x.str());
  const int64_t d = wrap_dim(x, dim, op);
  const Tensor xr = to_rows(x, d);
  Tensor out = Tensor::empty(xr.shape(), x.dtype());
  const int64_t n = xr.dim() ? xr.shape().back() : 1;
  if (xr.numel() == 0) return from_rows(out, x, d);
  const int64_t rows = xr.numel() / n;
  LOUPE_DISPATCH(x.dtype(), T, {
    const T* px = xr.data<T>();
    T* py = out.data<T>();
    for_rows(rows, n, [&](int64_t r) { RowFn<T>::run(px + r * n, py + r * n, n); });
  });
  return from_rows(out, x, d);
}

// dx = row_fn(y, g) row by row along dim.
template <template <typename> class RowFn>
Tensor backward_rows(const char* op, const Tensor& y, const Tensor& g, int64_t dim) {
  LOUPE_CHECK(y.defined() && g.defined() && is_floating(y.dtype()) && y.dtype() == g.dtype(), op,
              ": expected two f32 or f64 tensors of one dtype, got ", y.str(), " and ", g.str());
  LOUPE_CHECK(y.shape() == g.shape(), op, ": output ", y.str(), " and gradient ", g.str(), " differ in shape");
  const int64_t d = wrap_dim(y, dim, op);
  const Tensor yr = to_rows(y, d), gr = to_rows(g, d);
  Tensor out = Tensor::empty(yr.shape(), y.dtype());
  const int64_t n = yr.dim() ? yr.shape().back() : 1;
  if (yr.numel() == 0) return from_rows(out, y, d);
  const int64_t rows = yr.numel() / n;
  LOUPE_DISPATCH(y.dtype(), T, {
    const T* py = yr.data<T>();
    const T* pg = gr.data<T>();
    T* po = out.data<T>();
    for_rows(rows, n, [&](int64_t r) { RowFn<T>::run(py + r * n, pg + r * n, po + r * n, n); });
  });
  return from_rows(out, y, d);
}

template <typename T>
struct SoftmaxRow {
  static void run(const T* x, T* y, int64_t n) { softmax_row(x, y, n); }
};
template <typename T>
struct LogSoftmaxRow {
  static void run(const T* x, T* y, int64_t n) { log_softmax_row(x, y, n); }
};
template <typename T>
struct SoftmaxBackwardRow {
  static void run(const T* y, const T* g, T* dx, int64_t n) { softmax_backward_row(y, g, dx, n); }
};
template <typename T>
struct LogSoftmaxBackwardRow {
  static void run(const T* y, const T* g, T* dx, int64_t n) { log_softmax_backward_row(y, g, dx, n); }
};

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return unary_rows<SoftmaxRow>("softmax", x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return unary_rows<LogSoftmaxRow>("log_softmax", x, dim); }

Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return backward_rows<SoftmaxBackwardRow>("softmax_backward", y, g, dim);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return backward_rows<LogSoftmaxBackwardRow>("log_softmax_backward", y, g, dim);
}

}  // namespace loupe
