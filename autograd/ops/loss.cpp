// Losses. cross_entropy is fused (tensor/kernels/cross_entropy.cpp):
//   loss = mean_i (logsumexp(x_i) - x_i[t_i])  over rows with t_i != ignore_index,
//   dx_i = dloss / count * (softmax(x_i) - onehot(t_i)).
// linear_cross_entropy is cross_entropy(h · Wᵀ) with the head's GEMM fused in, chunked over rows
// (tensor/kernels/linear_cross_entropy.cpp); its gradients are made in the forward, unscaled:
//   dh = dloss / count · Σ_i Gᵢ W,   dW = dloss / count · Σ_i Gᵢᵀ hᵢ,   G = softmax(h Wᵀ) − onehot(t).
#include <memory>

#include "autograd/ops.h"
#include "tensor/kernels/cross_entropy.h"
#include "tensor/kernels/linear_cross_entropy.h"
#include "tensor/reference/cross_entropy.h"
#include "tensor/reference/linear_cross_entropy.h"
#include "tensor/ops.h"
#include "tensor/reference/mode.h"

namespace loupe {

LOUPE_REGISTER_OP("cross_entropy");

Var cross_entropy(const Var& logits, const Tensor& targets, int64_t ignore_index) {
  const bool ref = reference::enabled();  // the textbook twin (tensor/reference/cross_entropy.h)
  auto fwd = std::make_shared<CrossEntropyForward>(ref ? reference::cross_entropy_forward(logits.value(), targets, ignore_index)
                                                       : cross_entropy_forward(logits.value(), targets, ignore_index));
  return make_result("cross_entropy", fwd->loss, {logits},
                     [fwd, targets, ignore_index, ref](const Tensor& g) -> std::vector<Tensor> {
                       return {ref ? reference::cross_entropy_backward(*fwd, targets, ignore_index, g.item())
                                   : cross_entropy_backward(*fwd, targets, ignore_index, g.item())};
                     });
}

LOUPE_REGISTER_OP("linear_cross_entropy");

Var linear_cross_entropy(const Var& h, const Var& w, const Tensor& targets, int64_t ignore_index) {
  const bool grad = grad_enabled(), gh = grad && h.requires_grad(), gw = grad && w.requires_grad();
  auto f = std::make_shared<LinearCrossEntropy>(
      reference::enabled() ? reference::linear_cross_entropy_forward(h.value(), w.value(), targets, ignore_index, gh, gw)
                           : linear_cross_entropy_forward(h.value(), w.value(), targets, ignore_index, gh, gw));
  return make_result("linear_cross_entropy", f->loss, {h, w}, [f](const Tensor& g) -> std::vector<Tensor> {
    const double scale = f->count ? g.item() / double(f->count) : 0.0;
    // New tensors: the saved gradients stay unscaled, so a second backward scales them afresh.
    auto scaled = [scale](const Tensor& d) { return d.defined() ? mul(d, scale) : Tensor(); };
    return {scaled(f->dh), scaled(f->dw)};
  });
}

}  // namespace loupe
