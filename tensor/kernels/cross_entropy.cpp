// Fused softmax cross-entropy: see cross_entropy.h for the equations.
// Rows run in parallel; each row's max, exp-sum and gradient use the xsimd row
// helpers of softmax.cpp, and the per-row losses are summed in row order in
// double, so the loss is bitwise identical for any thread count.
#include "tensor/kernels/cross_entropy.h"

#include <cmath>
#include <vector>

#include "tensor/simd.h"

#include "tensor/kernels/lanes.h"
#include "tensor/kernels/softmax.h"
#include "tensor/parallel.h"

namespace loupe {

using kernels::exp1;  // lanes.h
namespace {

int64_t row_grain(int64_t V) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(V, 1)); }

}  // namespace

void check_cross_entropy_inputs(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  LOUPE_CHECK(logits.defined() && is_floating(logits.dtype()), "cross_entropy: logits must be f32 or f64, got ",
              logits.str());
  LOUPE_CHECK(targets.defined() && targets.dtype() == DType::I64, "cross_entropy: targets must be i64, got ",
              targets.str());
  LOUPE_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, V], got ", logits.str());
  LOUPE_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "cross_entropy: targets ", targets.str(),
              " must be [N] for logits ", logits.str());
  const int64_t N = logits.size(0), V = logits.size(1);
  LOUPE_CHECK(V > 0 || N == 0, "cross_entropy: logits ", logits.str(), " have no classes");
  check_targets_in_range("cross_entropy", targets, V, ignore_index);
}

void check_targets_in_range(const char* op, const Tensor& targets, int64_t V, int64_t ignore_index) {
  const Tensor tc = targets.contiguous();
  const int64_t* pt = tc.data<int64_t>();
  for (int64_t i = 0; i < tc.numel(); ++i) {
    const int64_t t = pt[i];
    LOUPE_CHECK(t == ignore_index || (t >= 0 && t < V), op, ": target ", t, " in row ", i, " is out of range for ", V,
                " classes (ignore_index ", ignore_index, ")");
  }
}

CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_cross_entropy_inputs(logits, targets, ignore_index);
  const int64_t N = logits.size(0), V = logits.size(1);
  CrossEntropyForward f;
  f.logits = logits.contiguous();
  f.lse = Tensor::zeros({N}, logits.dtype());
  const Tensor tc = targets.contiguous();
  const int64_t* pt = tc.data<int64_t>();
  std::vector<double> row_loss(size_t(N), 0.0);
  LOUPE_DISPATCH(logits.dtype(), T, {
    const T* px = f.logits.data<T>();
    T* plse = f.lse.data<T>();
    parallel_for(N, row_grain(V), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (pt[i] == ignore_index) continue;
        const T* x = px + i * V;
        plse[i] = kernels::row_logsumexp(x, V);  // max + log(sum(exp(x - max)))
        row_loss[size_t(i)] = double(plse[i]) - double(x[pt[i]]);
      }
    });
  });
  double total = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (pt[i] == ignore_index) continue;
    total += row_loss[size_t(i)];
    ++f.count;
  }
  f.loss = Tensor::scalar(f.count ? total / double(f.count) : 0.0, logits.dtype());
  return f;
}

Tensor cross_entropy_backward(const CrossEntropyForward& f, const Tensor& targets, int64_t ignore_index, double dloss) {
  const int64_t N = f.logits.size(0), V = f.logits.size(1);
  Tensor dx = Tensor::empty({N, V}, f.logits.dtype());
  const Tensor tc = targets.contiguous();
  const int64_t* pt = tc.data<int64_t>();
  const double scale = f.count ? dloss / double(f.count) : 0.0;
  LOUPE_DISPATCH(f.logits.dtype(), T, {
    using B = xsimd::batch<T>;
    constexpr int64_t W = int64_t(B::size);
    const T* px = f.logits.data<T>();
    const T* plse = f.lse.data<T>();
    T* pd = dx.data<T>();
    const T s = T(scale);
    parallel_for(N, row_grain(V), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T* d = pd + i * V;
        if (pt[i] == ignore_index) {
          std::fill(d, d + V, T(0));
          continue;
        }
        // d = s * exp(x - lse) = s * softmax(x), then subtract s at the target.
        const T* x = px + i * V;
        const B blse(plse[i]), bs(s);
        int64_t j = 0;
        for (; j + W <= V; j += W) (bs * xsimd::exp(B::load_unaligned(x + j) - blse)).store_unaligned(d + j);
        for (; j < V; ++j) d[j] = s * exp1(x[j] - plse[i]);  // xsimd's exp, as the lanes above
        d[pt[i]] -= s;
      }
    });
  });
  return dx;
}

}  // namespace loupe
