#include "tools/audit/flops.h"

#include <string>
#include <vector>

namespace loupe::tools {

double op_flops(const OpEvent& ev) {
  if (ev.backward) return 0;
  auto shape = [&](size_t k) { return ev.inputs[k]->shape(); };
  if (std::string(ev.op) == "matmul" && ev.inputs.size() == 2) {
    const Shape a = shape(0), b = shape(1);
    const double M = a.size() >= 2 ? double(a[a.size() - 2]) : 1, K = double(a.back()), N = double(b.back());
    double batch = 1;
    for (size_t i = 0; i + 2 < a.size(); ++i) batch *= double(a[i]);
    return 2 * batch * M * N * K;
  }
  if (std::string(ev.op) == "linear_cross_entropy") {  // the head's GEMM inside the loss: h [N, C] · Wᵀ
    const Shape h = shape(0), w = shape(1);
    return 2.0 * double(h[0]) * double(h[1]) * double(w[0]);
  }
  if (std::string(ev.op) == "causal_attention") {  // q k and p v over the visible half of the keys
    const Shape q = shape(0), k = shape(1), v = shape(2);
    return 2.0 * double(q[0] * q[1] * q[2]) * double(k[2] + 1) / 2 * double(q[3] + v[3]);
  }
  return 0;
}

double forward_flops_per_token(models::LanguageModel& model) {
  const int64_t T = model.block_size();
  double flops = 0;
  const bool was_training = model.is_training();
  model.eval();
  const int hook = add_op_hook([&](const OpEvent& ev) { flops += op_flops(ev); });
  {
    NoGrad ng;
    model.forward(Tensor::from_ints(std::vector<int64_t>(size_t(T), 0), {1, T}));
  }
  remove_op_hook(hook);
  model.train(was_training);
  return flops / double(T);
}

}  // namespace loupe::tools
