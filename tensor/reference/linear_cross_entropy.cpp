// Textbook twin of tensor/kernels/linear_cross_entropy.h: see linear_cross_entropy.h here.
#include "tensor/reference/linear_cross_entropy.h"

#include "tensor/kernels/gemm.h"
#include "tensor/reference/cross_entropy.h"

namespace loupe::reference {

LinearCrossEntropy linear_cross_entropy_forward(const Tensor& h, const Tensor& w, const Tensor& targets,
                                                int64_t ignore_index, bool grad_h, bool grad_w) {
  check_linear_cross_entropy_inputs(h, w, targets, ignore_index);
  const Tensor hc = h.contiguous(), wc = w.contiguous();
  const int64_t N = h.size(0), C = h.size(1), V = w.size(0);
  LinearCrossEntropy f;
  LOUPE_DISPATCH(h.dtype(), T, {
    Tensor logits = Tensor::empty({N, V}, h.dtype());
    kernels::gemm<T>(N, V, C, T(1), {hc.data<T>(), C, 1}, {wc.data<T>(), 1, C}, T(0), logits.data<T>(), V, 1);
    const CrossEntropyForward ce = reference::cross_entropy_forward(logits, targets, ignore_index);
    f.loss = ce.loss, f.count = ce.count;
    // dloss = count: the gradient of the sum over counted rows, as the fused forward keeps it.
    const Tensor g = reference::cross_entropy_backward(ce, targets, ignore_index, double(ce.count));
    if (grad_h) {
      f.dh = Tensor::empty({N, C}, h.dtype());
      kernels::gemm<T>(N, C, V, T(1), {g.data<T>(), V, 1}, {wc.data<T>(), C, 1}, T(0), f.dh.data<T>(), C, 1);
    }
    if (grad_w) {
      f.dw = Tensor::empty({V, C}, h.dtype());
      kernels::gemm<T>(V, C, N, T(1), {g.data<T>(), 1, V}, {hc.data<T>(), C, 1}, T(0), f.dw.data<T>(), C, 1);
    }
  });
  return f;
}

}  // namespace loupe::reference
