// The fused, chunked LM head and cross-entropy: see linear_cross_entropy.h for the equations.
#include "tensor/kernels/linear_cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/kernels/cross_entropy.h"
#include "tensor/kernels/gemm.h"
#include "tensor/kernels/softmax.h"
#include "tensor/parallel.h"

namespace loupe {

namespace {

// One chunk's rows [r0, r0 + R): Z (its logits, R × V) becomes G = softmax(Z) − onehot(t) in
// place; each counted row's loss goes to row_loss. Rows run in parallel, each on its own row of Z.
template <typename T>
void chunk_rows(T* z, int64_t R, int64_t V, const int64_t* t, int64_t ignore_index, double* row_loss) {
  parallel_for(R, std::max<int64_t>(1, (int64_t(1) << 14) / V), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* x = z + i * V;
      if (t[i] == ignore_index) {
        std::fill(x, x + V, T(0));
        continue;
      }
      const T target = x[t[i]], m = kernels::row_max(x, V);
      const T s = kernels::row_exp_sum(x, m, x, V);  // x ← e^{x − m}
      row_loss[i] = double(m) + std::log(double(s)) - double(target);
      const T inv = T(1) / s;
      for (int64_t j = 0; j < V; ++j) x[j] *= inv;  // softmax
      x[t[i]] -= T(1);
    }
  });
}

template <typename T>
LinearCrossEntropy run(const Tensor& hc, const Tensor& wc, const int64_t* t, int64_t ignore_index, bool grad_h,
                       bool grad_w, int64_t chunk) {
  const int64_t N = hc.size(0), C = hc.size(1), V = wc.size(0);
  const int64_t R = std::clamp<int64_t>(chunk / std::max<int64_t>(V, 1), 1, std::max<int64_t>(N, 1));
  LinearCrossEntropy f;
  if (grad_h) f.dh = Tensor::zeros({N, C}, hc.dtype());
  if (grad_w) f.dw = Tensor::zeros({V, C}, hc.dtype());
  const T *ph = hc.data<T>(), *pw = wc.data<T>();
  std::vector<double> row_loss(size_t(N), 0.0);
  std::vector<T> z(size_t(std::min(R, N) * V));
  bool first_w = true;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = std::min(R, N - r0);
    // Z = h_c · Wᵀ: W read through swapped strides, no copy.
    kernels::gemm<T>(rows, V, C, T(1), {ph + r0 * C, C, 1}, {pw, 1, C}, T(0), z.data(), V, 1);
    chunk_rows(z.data(), rows, V, t + r0, ignore_index, row_loss.data() + r0);
    if (grad_h)  // dh_c = G · W
      kernels::gemm<T>(rows, C, V, T(1), {z.data(), V, 1}, {pw, C, 1}, T(0), f.dh.data<T>() + r0 * C, C, 1);
    if (grad_w) {  // dW += Gᵀ · h_c, the chunks in order
      kernels::gemm<T>(V, C, rows, T(1), {z.data(), 1, V}, {ph + r0 * C, C, 1}, first_w ? T(0) : T(1), f.dw.data<T>(), C, 1);
      first_w = false;
    }
  }
  double total = 0;
  for (int64_t i = 0; i < N; ++i)
    if (t[i] != ignore_index) total += row_loss[size_t(i)], ++f.count;
  f.loss = Tensor::scalar(f.count ? total / double(f.count) : 0.0, hc.dtype());
  return f;
}

}  // namespace

void check_linear_cross_entropy_inputs(const Tensor& h, const Tensor& w, const Tensor& targets, int64_t ignore_index) {
  LOUPE_CHECK(h.defined() && is_floating(h.dtype()) && h.dim() == 2, "linear_cross_entropy: h must be f32 or f64 [N, C], got ",
              h.defined() ? h.str() : "undefined");
  LOUPE_CHECK(w.defined() && w.dtype() == h.dtype() && w.dim() == 2 && w.size(1) == h.size(1) && w.size(0) > 0,
              "linear_cross_entropy: W must be [V, C] of h's dtype, V > 0, for h ", h.str(), ", got ",
              w.defined() ? w.str() : "undefined");
  LOUPE_CHECK(targets.defined() && targets.dtype() == DType::I64 && targets.dim() == 1 && targets.size(0) == h.size(0),
              "linear_cross_entropy: targets must be i64 [N] for h ", h.str(), ", got ",
              targets.defined() ? targets.str() : "undefined");
  check_targets_in_range("linear_cross_entropy", targets, w.size(0), ignore_index);
}

LinearCrossEntropy linear_cross_entropy_forward(const Tensor& h, const Tensor& w, const Tensor& targets,
                                                int64_t ignore_index, bool grad_h, bool grad_w, int64_t chunk) {
  check_linear_cross_entropy_inputs(h, w, targets, ignore_index);
  const Tensor hc = h.contiguous(), wc = w.contiguous(), tc = targets.contiguous();
  LinearCrossEntropy f;
  LOUPE_DISPATCH(h.dtype(), T, { f = run<T>(hc, wc, tc.data<int64_t>(), ignore_index, grad_h, grad_w, chunk); });
  return f;
}

}  // namespace loupe
