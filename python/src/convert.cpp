// Conversions every binding file shares (bindings.h).
#include <nanobind/stl/vector.h>

#include <nlohmann/json.hpp>

#include "python/src/bindings.h"

namespace loupe::py {

Shape shape_arg(nb::handle h) {
  if (nb::isinstance<nb::int_>(h)) return {nb::cast<int64_t>(h)};
  return nb::cast<Shape>(h);
}

Shape shape_args(const nb::args& args) {
  if (args.size() == 1 && !nb::isinstance<nb::int_>(args[0])) return shape_arg(args[0]);
  Shape s;
  for (nb::handle a : args) s.push_back(nb::cast<int64_t>(a));
  return s;
}

std::vector<int64_t> dims_arg(nb::handle h) {
  if (h.is_none()) return {};
  if (nb::isinstance<nb::int_>(h)) return {nb::cast<int64_t>(h)};
  return nb::cast<std::vector<int64_t>>(h);
}

tools::RunConfig read_run_config(const std::string& config_json, const std::string& path,
                                 const std::vector<std::string>& sets) {
  if (config_json.empty()) return tools::load_run_config(path, sets);
  nlohmann::json j = nlohmann::json::parse(config_json);
  for (const auto& s : sets) tools::apply_set(j, s);
  return tools::RunConfig::from_json(j, "config");
}

std::map<std::string, Var> vars_of(const std::map<std::string, Tensor>& m) {
  std::map<std::string, Var> out;
  for (const auto& [k, v] : m) out[k] = Var(v);
  return out;
}

std::map<std::string, Tensor> tensors_of(const std::map<std::string, Var>& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, v] : m) out[k] = v.value();
  return out;
}

Var scalar_like(double s, const Var& like) { return Var(Tensor::scalar(s, like.dtype())); }

void check_inplace(const Var& t, const char* op) {
  if (!t.requires_grad() || !grad_enabled()) return;
  throw nb::value_error(
      (std::string(op) + ": a tensor that requires grad cannot be changed in place while grad mode is on (loupe "
                         "has no in-place autograd); update parameters inside `with loupe.no_grad():`, or build a "
                         "new tensor (loupe.where, masked_fill, an op's result)")
          .c_str());
}

}  // namespace loupe::py
