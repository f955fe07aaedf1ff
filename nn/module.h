// Module: a tree of named parameters and submodules, named the way PyTorch names
// them ("transformer.h.0.attn.c_attn.weight"), so state dicts map one to one.
//
// A layer registers its parameters and children (register_parameter, register_module:
// public, as PyTorch's) and implements whatever forward it needs. A child is held by a
// Child<M> handle, and called through it, `mlp(ln_2(x))`, as PyTorch's __call__: the call
// enters the child's module scope (autograd/run_context.h), so tracing and random ops know
// the dotted path of the module running ("transformer.h.2.attn") without any model saying so.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/run_context.h"
#include "autograd/var.h"
#include "tensor/tensor.h"

namespace loupe::nn {

class Module;

// A registered child: the module, and the parent and name it was registered under.
// operator() calls the child's forward inside its module scope; -> reaches its members.
template <class M>
class Child {
 public:
  Child() = default;
  Child(const Module* parent, std::string name, std::shared_ptr<M> m)
      : parent_(parent), name_(std::move(name)), m_(std::move(m)) {}
  template <class D>  // Child<Derived> -> Child<Base>
  Child(const Child<D>& o) : parent_(o.parent()), name_(o.name()), m_(o.ptr()) {}

  template <class... A>
  decltype(auto) operator()(A&&... args) const {
    ModuleScope scope(static_cast<const Module*>(m_.get()), call_path());
    if constexpr (std::is_same_v<decltype(m_->forward(std::forward<A>(args)...)), Var>) {
      Var out = m_->forward(std::forward<A>(args)...);
      fire_module_event(out);  // the module's output, for module-level traces
      return out;
    } else {
      return m_->forward(std::forward<A>(args)...);
    }
  }
  M* operator->() const { return m_.get(); }
  M& operator*() const { return *m_; }
  explicit operator bool() const { return bool(m_); }
  const std::shared_ptr<M>& ptr() const { return m_; }
  const Module* parent() const { return parent_; }
  const std::string& name() const { return name_; }
  // The path of this call: the running parent's call path + "." + name when the parent is the
  // module running (so a module shared by two layers gets each layer's path), else the parent's
  // registered path + "." + name (containers such as ModuleList are never called themselves).
  std::string call_path() const;

 private:
  const Module* parent_ = nullptr;
  std::string name_;
  std::shared_ptr<M> m_;
};

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
  // Dotted path from the root it was first registered under ("" for a root).
  std::string path() const;

  // Registration. Names are non-empty and contain no '.'; a module registered in two places
  // (shared weights) keeps the first as its path.
  Var register_parameter(const std::string& name, Tensor init);  // requires_grad leaf
  template <class M>
  Child<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    check_new_name(name);
    LOUPE_CHECK(m != nullptr, "Module: child '", name, "' is null");
    children_.emplace_back(name, m);
    Module& child = *m;
    if (!child.parent_ && child.name_.empty()) {
      child.parent_ = this;
      child.name_ = name;
    }
    return Child<M>(this, name, std::move(m));
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var>>& out) const;

  std::vector<std::pair<std::string, Var>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  const Module* parent_ = nullptr;  // first registration (not owning: the parent owns this module)
  std::string name_;
  bool training_ = true;
};

inline std::string join_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

template <class M>
std::string Child<M>::call_path() const {
  if (parent_ && current_module() == static_cast<const void*>(parent_))
    return join_path(current_module_path(), name_);
  return join_path(parent_ ? parent_->path() : std::string(), name_);
}

// Named submodules added from outside (PyTorch's nn.ModuleDict), e.g. nanoGPT's `transformer`.
class ModuleDict : public Module {};

// A list of submodules named "0", "1", ... (PyTorch's nn.ModuleList). Items are Child handles:
// `list[i](x)` calls item i in its scope.
template <class M>
class ModuleList : public Module {
 public:
  Child<M> push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
    return items_.back();
  }
  size_t size() const { return items_.size(); }
  const Child<M>& operator[](size_t i) const { return items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Child<M>> items_;
};

}  // namespace loupe::nn
