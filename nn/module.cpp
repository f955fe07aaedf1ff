#include "nn/module.h"

#include <set>
#include <unordered_set>

namespace loupe::nn {

void Module::check_new_name(const std::string& name) const {
  LOUPE_CHECK(!name.empty() && name.find('.') == std::string::npos,
              "Module: invalid name '", name, "' (must be non-empty and contain no '.')");
  for (auto& [n, p] : params_) LOUPE_CHECK(n != name, "Module: name '", name, "' is already a parameter");
  for (auto& [n, m] : children_) LOUPE_CHECK(n != name, "Module: name '", name, "' is already a submodule");
}

Var Module::register_parameter(const std::string& name, Tensor init) {
  check_new_name(name);
  LOUPE_CHECK(init.defined() && is_floating(init.dtype()), "Module: parameter '", name, "' must be a float tensor");
  Var p(init.contiguous(), /*requires_grad=*/true);
  params_.emplace_back(name, p);
  return p;
}

// Depth-first: own parameters first, then children in registration order (PyTorch's order).
void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Var>>& out) const {
  for (auto& [n, p] : params_) out.emplace_back(prefix + n, p);
  for (auto& [n, m] : children_) m->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> all, unique;
  collect("", all);
  std::unordered_set<const VarImpl*> seen;  // shared (tied) parameters appear once, first name wins
  for (auto& np : all)
    if (seen.insert(np.second.impl()).second) unique.push_back(np);
  return unique;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

std::string Module::path() const { return parent_ ? join_path(parent_->path(), name_) : std::string(); }

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad() {
  for (auto& [n, p] : named_parameters()) p.zero_grad();
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (auto& [n, p] : named_parameters()) sd[n] = p.value();
  return sd;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  auto params = named_parameters();
  // Check everything first so a failed load changes nothing.
  std::string missing, unexpected;
  std::set<std::string> names;
  for (auto& [n, p] : params) {
    names.insert(n);
    auto it = sd.find(n);
    if (it == sd.end()) {
      missing += (missing.empty() ? "" : ", ") + n;
      continue;
    }
    const Tensor& t = it->second;
    LOUPE_CHECK(t.defined(), "load_state_dict: tensor '", n, "' is undefined");
    LOUPE_CHECK(t.shape() == p.shape(), "load_state_dict: '", n, "' has shape ", shape_str(t.shape()),
                ", the model expects ", shape_str(p.shape()));
    LOUPE_CHECK(is_floating(t.dtype()), "load_state_dict: '", n, "' has dtype ", dtype_name(t.dtype()),
                ", the model expects a float tensor (", dtype_name(p.dtype()), ")");
  }
  for (auto& [n, t] : sd)
    if (!names.count(n)) unexpected += (unexpected.empty() ? "" : ", ") + n;
  if (strict) {
    LOUPE_CHECK(missing.empty(), "load_state_dict: missing keys: ", missing);
    LOUPE_CHECK(unexpected.empty(), "load_state_dict: unexpected keys: ", unexpected);
  }
  for (auto& [n, p] : params) {
    auto it = sd.find(n);
    if (it != sd.end()) p.mutable_value().copy_(it->second.to(p.dtype()));  // keeps the parameter's storage
  }
}

}  // namespace loupe::nn
