#include "optim/sgd.h"

#include "optim/simd_loop.h"

namespace loupe::optim {

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions opt)
    : Optimizer(std::move(groups), opt.momentum != 0.0 ? std::vector<std::string>{"momentum_buffer"}
                                                       : std::vector<std::string>{},
                "SGD"),
      opt_(opt) {
  LOUPE_CHECK(opt.momentum >= 0.0, "SGD: momentum must be >= 0, got ", opt.momentum);
  LOUPE_CHECK(!opt.nesterov || opt.momentum > 0.0, "SGD: nesterov needs momentum > 0");
}

void SGD::update(const Tensor& value, const Tensor& grad, std::vector<Tensor>& slots, double lr, double weight_decay,
                 double grad_scale, int64_t, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  LOUPE_DISPATCH(value.dtype(), T, {
    const T lr_t = T(lr), wd = T(weight_decay), scale = T(grad_scale), mu = T(opt_.momentum);
    const T* g = grad.data<T>() + begin;
    if (slots.empty()) {
      T* const state[1] = {value.data<T>() + begin};
      detail::fused_update<T, 1>(n, g, state, [&](auto gv, auto& p) {
        using V = decltype(gv);
        const V d = gv * V(scale) + V(wd) * p;
        p = p - V(lr_t) * d;
      });
    } else if (!opt_.nesterov) {
      T* const state[2] = {value.data<T>() + begin, slots[0].data<T>() + begin};
      detail::fused_update<T, 2>(n, g, state, [&](auto gv, auto& p, auto& b) {
        using V = decltype(gv);
        const V d = gv * V(scale) + V(wd) * p;
        b = V(mu) * b + d;
        p = p - V(lr_t) * b;
      });
    } else {
      T* const state[2] = {value.data<T>() + begin, slots[0].data<T>() + begin};
      detail::fused_update<T, 2>(n, g, state, [&](auto gv, auto& p, auto& b) {
        using V = decltype(gv);
        const V d = gv * V(scale) + V(wd) * p;
        b = V(mu) * b + d;
        p = p - V(lr_t) * (d + V(mu) * b);
      });
    }
  });
}

}  // namespace loupe::optim
