// LayerNorm and RMSNorm as single fused ops over the last dim (kernels/norm.cpp).
// Forward saves the per-row mean and 1/std; backward is the closed form
//   dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  g = dy ⊙ w,  x̂ = (x − mean) · rstd
// (RMSNorm drops the mean(g) term and the centring), dw = Σ_rows dy ⊙ x̂, db = Σ_rows dy.
#include <algorithm>

#include "autograd/nn_ops.h"
#include "tensor/kernels/norm.h"
#include "tensor/reference/mode.h"
#include "tensor/reference/norm.h"

namespace loupe {

LOUPE_REGISTER_OP("layer_norm");
LOUPE_REGISTER_OP("rms_norm");

static void check_norm_args(const char* op, const Var& x, const Var& w, const Var& b) {
  LOUPE_CHECK(x.defined() && w.defined(), op, ": input and weight must be defined");
  LOUPE_CHECK(x.dim() >= 1 && w.dim() == 1 && w.size(0) == x.size(-1), op, ": weight ", w.value().str(),
              " does not match the last dim of input ", x.value().str());
  LOUPE_CHECK(w.dtype() == x.dtype() && is_floating(x.dtype()), op, ": dtypes differ or are not float: input ",
              x.value().str(), ", weight ", w.value().str());
  if (b.defined())
    LOUPE_CHECK(b.shape() == w.shape() && b.dtype() == x.dtype(), op, ": bias ", b.value().str(),
                " does not match weight ", w.value().str());
}

Var layer_norm(const Var& x, const Var& weight, const Var& bias, double eps) {
  check_norm_args("layer_norm", x, weight, bias);
  const int64_t C = x.size(-1), rows = x.numel() / std::max<int64_t>(C, 1);
  const DType dt = x.dtype();
  Tensor xc = x.value().contiguous(), wc = weight.value().contiguous();
  Tensor bc = bias.defined() ? bias.value().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), dt), mean = Tensor::empty({rows}, dt), rstd = Tensor::empty({rows}, dt);
  LOUPE_DISPATCH(dt, T, (reference::enabled() ? reference::layernorm_forward<T> : kernels::layernorm_forward<T>)(rows, C, xc.data<T>(), wc.data<T>(),
                                                       bc.defined() ? bc.data<T>() : nullptr, eps, y.data<T>(),
                                                       mean.data<T>(), rstd.data<T>()));
  std::vector<Var> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool has_b = bias.defined(), need_b = has_b && bias.requires_grad(), ref = reference::enabled();
  return make_result("layer_norm", y, inputs, [=](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = need_x ? Tensor::empty(xc.shape(), dt) : Tensor();
    Tensor dw = need_w ? Tensor::empty({C}, dt) : Tensor();
    Tensor db = need_b ? Tensor::empty({C}, dt) : Tensor();
    LOUPE_DISPATCH(dt, T, (ref ? reference::layernorm_backward<T> : kernels::layernorm_backward<T>)(rows, C, xc.data<T>(), wc.data<T>(), mean.data<T>(),
                                                          rstd.data<T>(), gc.data<T>(),
                                                          need_x ? dx.data<T>() : nullptr,
                                                          need_w ? dw.data<T>() : nullptr,
                                                          need_b ? db.data<T>() : nullptr));
    std::vector<Tensor> grads{dx, dw};
    if (has_b) grads.push_back(db);
    return grads;
  });
}

Var rms_norm(const Var& x, const Var& weight, double eps) {
  check_norm_args("rms_norm", x, weight, Var());
  const int64_t C = x.size(-1), rows = x.numel() / std::max<int64_t>(C, 1);
  const DType dt = x.dtype();
  Tensor xc = x.value().contiguous(), wc = weight.value().contiguous();
  Tensor y = Tensor::empty(x.shape(), dt), rstd = Tensor::empty({rows}, dt);
  LOUPE_DISPATCH(dt, T, (reference::enabled() ? reference::rmsnorm_forward<T> : kernels::rmsnorm_forward<T>)(rows, C, xc.data<T>(), wc.data<T>(), eps, y.data<T>(),
                                                     rstd.data<T>()));
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), ref = reference::enabled();
  return make_result("rms_norm", y, {x, weight}, [=](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = need_x ? Tensor::empty(xc.shape(), dt) : Tensor();
    Tensor dw = need_w ? Tensor::empty({C}, dt) : Tensor();
    LOUPE_DISPATCH(dt, T, (ref ? reference::rmsnorm_backward<T> : kernels::rmsnorm_backward<T>)(rows, C, xc.data<T>(), wc.data<T>(), rstd.data<T>(),
                                                        gc.data<T>(), need_x ? dx.data<T>() : nullptr,
                                                        need_w ? dw.data<T>() : nullptr));
    return std::vector<Tensor>{dx, dw};
  });
}

}  // namespace loupe
