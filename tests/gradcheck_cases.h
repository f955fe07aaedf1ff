// Registry of gradcheck cases, one or more per differentiable op. Each op family
// adds its cases in tests/gradcheck_cases_<family>.cpp with LOUPE_GRADCHECK_CASE;
// test_gradcheck runs them all and fails if any registered op has none.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

namespace loupe::testing {

struct GradcheckCase {
  std::string op;    // the registered op name this case covers
  std::string name;  // a short description ("broadcast rows", "dim=-1", ...)
  std::function<std::vector<Tensor>()> make_inputs;  // f64 inputs, made lazily
  std::function<Var(const std::vector<Var>&)> f;
  GradcheckOptions opt{};
};

std::vector<GradcheckCase>& gradcheck_cases();

struct GradcheckCaseRegistrar {
  explicit GradcheckCaseRegistrar(GradcheckCase c) { gradcheck_cases().push_back(std::move(c)); }
};

}  // namespace loupe::testing

// LOUPE_GRADCHECK_CASE("add", "broadcast", inputs_lambda, f_lambda [, options])
#define LOUPE_GRADCHECK_CASE(op, name, ...)                                                       \
  static ::loupe::testing::GradcheckCaseRegistrar LOUPE_CONCAT(loupe_gc_case_, __LINE__)( \
      ::loupe::testing::GradcheckCase{op, name, __VA_ARGS__})
