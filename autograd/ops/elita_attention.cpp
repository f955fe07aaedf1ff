// elita_attention: forward = the stabilised cumulative-sum softmax, backward = the same
// scan run in reverse (reverse cumulative sums); both in tensor/kernels/elita_attention.cpp.
#include "autograd/ops/elita_attention.h"

#include "tensor/reference/elita_attention.h"
#include "tensor/reference/mode.h"

namespace loupe {

LOUPE_REGISTER_OP("elita_attention");

Var elita_attention(const Var& a, const Var& g, const Var& d, const Var& v) {
  const bool ref = reference::enabled();  // the textbook twin (tensor/reference/elita_attention.h)
  ElitaForwardResult r = ref ? reference::elita_attention_forward(a.value(), g.value(), d.value(), v.value())
                             : elita_attention_forward(a.value(), g.value(), d.value(), v.value());
  const Tensor ta = a.value(), tg = g.value(), td = d.value(), tv = v.value(), y = r.y, lse = r.lse;
  return make_result("elita_attention", r.y, {a, g, d, v}, [=](const Tensor& gy) -> std::vector<Tensor> {
    ElitaGrads gr = ref ? reference::elita_attention_backward(ta, tg, td, tv, y, lse, gy)
                        : elita_attention_backward(ta, tg, td, tv, y, lse, gy);
    return {gr.da, gr.dg, gr.dd, gr.dv};
  });
}

}  // namespace loupe
