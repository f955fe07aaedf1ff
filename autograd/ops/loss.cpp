// Losses. cross_entropy is fused (tensor/kernels/cross_entropy.cpp):
//   loss = mean_i (logsumexp(x_i) - x_i[t_i])  over rows with t_i != ignore_index,
//   dx_i = dloss / count * (softmax(x_i) - onehot(t_i)).
#include <memory>

#include "autograd/ops.h"
#include "tensor/kernels/cross_entropy.h"
#include "tensor/reference/cross_entropy.h"
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

}  // namespace loupe
