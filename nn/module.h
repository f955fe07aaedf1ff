// Module: a tree of named parameters and submodules, named the way PyTorch names
// them ("transformer.h.0.attn.c_attn.weight"), so state dicts map one to one.
// A layer registers its parameters and children in its constructor and
// implements whatever forward it needs; the Module base only knows names.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"
#include "tensor/tensor.h"

namespace loupe::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Depth-first, dotted PyTorch-style names ("blocks.0.attn.c_attn.weight"); a parameter shared
  // between two places appears once, under the first name.
  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  int64_t num_parameters() const;  // elements, each shared parameter counted once

  // Training mode (dropout on) vs evaluation mode; applies to every submodule.
  void train(bool on = true);
  bool is_training() const { return training_; }
  void eval() { train(false); }

  void zero_grad();  // drops every parameter's grad

  std::map<std::string, Tensor> state_dict() const;  // name -> value (shares storage)
  // Copies values in (keeps the parameters' own storage and dtype). strict: every name must match
  // both ways. Errors name the missing/unexpected keys and any shape/dtype mismatch.
  void load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);

  // Direct children in registration order (for walking the tree).
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  Var register_parameter(const std::string& name, Tensor init);  // requires_grad leaf
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    check_new_name(name);
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var>>& out) const;

  std::vector<std::pair<std::string, Var>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace loupe::nn

namespace loupe::nn {

// A list of submodules named "0", "1", ... (PyTorch's nn.ModuleList).
template <class M>
class ModuleList : public Module {
 public:
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), m));
    return m;
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_[i]; }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace loupe::nn
