#include "optim/adam.h"

#include <cmath>

#include "optim/simd_loop.h"

namespace loupe::optim {

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions opt)
    : Optimizer(std::move(groups), {"exp_avg", "exp_avg_sq"}, opt.decoupled_weight_decay ? "AdamW" : "Adam"),
      opt_(opt) {
  LOUPE_CHECK(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1,
              "Adam: betas must be in [0, 1), got (", opt.beta1, ", ", opt.beta2, ")");
  LOUPE_CHECK(opt.eps > 0, "Adam: eps must be > 0, got ", opt.eps);
}

void Adam::update(const Tensor& value, const Tensor& grad, std::vector<Tensor>& slots, double lr, double weight_decay,
                  double grad_scale, int64_t t, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  // Per-step scalars in f64, rounded once to the parameter type.
  const double bc1 = 1.0 - std::pow(opt_.beta1, double(t));
  const double bc2 = 1.0 - std::pow(opt_.beta2, double(t));
  LOUPE_DISPATCH(value.dtype(), T, {
    const T b1 = T(opt_.beta1), b2 = T(opt_.beta2), one_b1 = T(1.0 - opt_.beta1), one_b2 = T(1.0 - opt_.beta2);
    const T step_size = T(lr / bc1), sqrt_bc2 = T(std::sqrt(bc2)), eps = T(opt_.eps), scale = T(grad_scale);
    const T decay = T(1.0 - lr * weight_decay), wd = T(weight_decay);
    T* const state[3] = {value.data<T>() + begin, slots[0].data<T>() + begin, slots[1].data<T>() + begin};
    const T* g = grad.data<T>() + begin;
    auto moments_and_step = [&](auto gv, auto& p, auto& m, auto& v) {
      using V = decltype(gv);
      m = V(b1) * m + V(one_b1) * gv;
      v = V(b2) * v + V(one_b2) * (gv * gv);
      const V denom = detail::vsqrt(v) / V(sqrt_bc2) + V(eps);
      p = p - V(step_size) * (m / denom);
    };
    if (opt_.decoupled_weight_decay) {
      detail::fused_update<T, 3>(n, g, state, [&](auto gv, auto& p, auto& m, auto& v) {
        using V = decltype(gv);
        if (weight_decay != 0.0) p = p * V(decay);
        moments_and_step(gv * V(scale), p, m, v);
      });
    } else {
      detail::fused_update<T, 3>(n, g, state, [&](auto gv, auto& p, auto& m, auto& v) {
        using V = decltype(gv);
        moments_and_step(gv * V(scale) + V(wd) * p, p, m, v);
      });
    }
  });
}

}  // namespace loupe::optim
