// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_):
//   ‖g‖ = √(Σ_params Σ_i g_i²),   coef = min(1, max_norm / (‖g‖ + 1e-6)),   g ← coef·g
// The sum is deterministic: each parameter's elements are summed in f64 in fixed
// blocks, block sums are added in order, then parameters in order.
#pragma once
#include <vector>

#include "autograd/var.h"

namespace loupe::optim {

// ‖g‖ over every parameter that has a gradient.
double grad_global_norm(const std::vector<Var>& params);
// The factor clipping multiplies the grads by (1 when ‖g‖ <= max_norm).
double clip_coefficient(double total_norm, double max_norm);
// Scales the grads in place; returns ‖g‖ before clipping.
double clip_grad_norm_(const std::vector<Var>& params, double max_norm);

}  // namespace loupe::optim
