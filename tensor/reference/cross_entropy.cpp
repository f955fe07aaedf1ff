#include "tensor/reference/cross_entropy.h"

#include <cmath>

namespace loupe::reference {

CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_cross_entropy_inputs(logits, targets, ignore_index);
  const int64_t N = logits.size(0), V = logits.size(1);
  const Tensor x = logits.to(DType::F64).contiguous(), t = targets.contiguous();
  const double* px = x.data<double>();
  const int64_t* pt = t.data<int64_t>();
  CrossEntropyForward f;
  f.logits = logits.contiguous();
  Tensor lse = Tensor::zeros({N}, DType::F64);
  double total = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (pt[i] == ignore_index) continue;
    double mx = -INFINITY, sum = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, px[i * V + v]);
    for (int64_t v = 0; v < V; ++v) sum += std::exp(px[i * V + v] - mx);
    lse.data<double>()[i] = mx + std::log(sum);
    total += lse.data<double>()[i] - px[i * V + pt[i]];
    ++f.count;
  }
  f.lse = lse.to(logits.dtype());
  f.loss = Tensor::scalar(f.count ? total / double(f.count) : 0.0, logits.dtype());
  return f;
}

Tensor cross_entropy_backward(const CrossEntropyForward& f, const Tensor& targets, int64_t ignore_index, double dloss) {
  const int64_t N = f.logits.size(0), V = f.logits.size(1);
  const Tensor x = f.logits.to(DType::F64).contiguous(), lse = f.lse.to(DType::F64).contiguous(), t = targets.contiguous();
  Tensor dx = Tensor::zeros({N, V}, DType::F64);
  const double scale = f.count ? dloss / double(f.count) : 0.0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t ti = t.data<int64_t>()[i];
    if (ti == ignore_index) continue;
    for (int64_t v = 0; v < V; ++v)
      dx.data<double>()[i * V + v] =
          scale * (std::exp(x.data<double>()[i * V + v] - lse.data<double>()[i]) - (v == ti ? 1.0 : 0.0));
  }
  return dx.to(f.logits.dtype());
}

}  // namespace loupe::reference
