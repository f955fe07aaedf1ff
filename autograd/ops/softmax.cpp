// softmax / log_softmax: forward kernels in tensor/kernels/softmax.cpp; the
// backwards are closed forms in the saved output y, so x need not be kept.
#include "autograd/ops.h"
#include "tensor/kernels/softmax.h"
#include "tensor/reference/mode.h"
#include "tensor/reference/softmax.h"

namespace loupe {

LOUPE_REGISTER_OP("softmax");
LOUPE_REGISTER_OP("log_softmax");

// y = exp(x - max) / sum(exp(x - max));  dx = y * (g - sum(g * y))
Var softmax(const Var& x, int64_t dim) {
  const bool ref = reference::enabled();  // the textbook twin (tensor/reference/softmax.h)
  Tensor y = ref ? reference::softmax(x.value(), dim) : softmax(x.value(), dim);
  return make_result("softmax", y, {x}, [y, dim, ref](const Tensor& g) -> std::vector<Tensor> {
    return {ref ? reference::softmax_backward(y, g, dim) : softmax_backward(y, g, dim)};
  });
}

// y = x - max - log(sum(exp(x - max)));  dx = g - exp(y) * sum(g)
Var log_softmax(const Var& x, int64_t dim) {
  const bool ref = reference::enabled();
  Tensor y = ref ? reference::log_softmax(x.value(), dim) : log_softmax(x.value(), dim);
  return make_result("log_softmax", y, {x}, [y, dim, ref](const Tensor& g) -> std::vector<Tensor> {
    return {ref ? reference::log_softmax_backward(y, g, dim) : log_softmax_backward(y, g, dim)};
  });
}

}  // namespace loupe
