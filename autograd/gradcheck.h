// gradcheck: compares the analytic gradient of f against central finite
// differences in f64. Non-scalar outputs are reduced with fixed random weights w
// (the checked scalar is sum(w * f(x))), so every output element contributes.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"

namespace loupe {

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0, max_rel_err = 0;
  // The worst element: which input, flat index, analytic vs numeric value.
  int worst_input = -1;
  int64_t worst_index = -1;
  double worst_analytic = 0, worst_numeric = 0;
  std::string report;  // one readable line
};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  uint64_t seed = 1234;
};

// f maps leaf Vars (built from `inputs`, converted to f64, requires_grad) to one output Var.
GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt = {});

}  // namespace loupe
