// Var: a Tensor that remembers how it was made, for reverse-mode autodiff.
// A Var holds a value, an optional grad, and the Node (op) that produced it.
// backward() walks the graph in reverse topological order, accumulating grads,
// and frees the graph as it goes.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace loupe {

struct Node;

struct VarImpl {
  Tensor value;
  Tensor grad;  // undefined until a gradient arrives
  std::shared_ptr<Node> node;  // null for leaves
  bool requires_grad = false;
  uint64_t event = 0;  // the op event that made this value (1 + its id; 0: unknown), while hooks watch
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return p_ != nullptr; }
  const Tensor& value() const { return p_->value; }
  Tensor& mutable_value() { return p_->value; }  // for optimizers updating in place
  const Tensor& grad() const { return p_->grad; }
  Tensor& mutable_grad() { return p_->grad; }
  bool requires_grad() const { return p_ && p_->requires_grad; }
  void set_requires_grad(bool r) { p_->requires_grad = r; }
  const std::shared_ptr<Node>& node() const { return p_->node; }
  bool is_leaf() const { return p_->node == nullptr; }
  void zero_grad() { p_->grad = Tensor(); }

  const Shape& shape() const { return p_->value.shape(); }
  int64_t size(int64_t d) const { return p_->value.size(d); }
  int64_t dim() const { return p_->value.dim(); }
  int64_t numel() const { return p_->value.numel(); }
  DType dtype() const { return p_->value.dtype(); }
  double item() const { return p_->value.item(); }

  // Backpropagate from this Var. With no seed the Var must hold one element (seed 1).
  void backward() const;
  void backward(const Tensor& seed) const;
  // A new leaf sharing this value, cut from the graph.
  Var detach() const { return Var(p_->value, false); }

  bool same(const Var& o) const { return p_ == o.p_; }
  const VarImpl* impl() const { return p_.get(); }

 private:
  friend void fire_module_event(const Var&);
  friend Var make_result(const char*, Tensor, std::vector<Var>, std::function<std::vector<Tensor>(const Tensor&)>);
  std::shared_ptr<VarImpl> p_;
};

// Given the gradient of the op's output, returns one gradient per input
// (an undefined Tensor where an input gets none). Captured tensors live in the closure.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

// A view op whose output is one part of its single input (narrow, slice, select, split) sets
// `part`: its backward returns the gradient of that part only, and the engine adds it into
// part(gradient of the input) in place, so no zero-filled input-sized tensor is built per part.
using PartFn = std::function<Tensor(const Tensor& whole)>;

struct Node {
  std::string op;
  std::vector<Var> inputs;
  BackwardFn backward;
  PartFn part;       // see PartFn; empty for every other op
  uint64_t seq = 0;  // creation order
  std::string module;     // the module path its forward ran in (recorded while hooks watch)
  uint64_t event = 0;     // its forward's op event (1 + id; 0: none)
};

// Wraps an op's forward result: records a Node when grad mode is on and any
// input requires grad, and fires the op hooks. Every differentiable op ends with this.
Var make_result(const char* op, Tensor out, std::vector<Var> inputs, BackwardFn backward);
// The same for a view op whose output is part(x) (see PartFn); its backward passes g through.
Var make_part_result(const char* op, const Var& x, PartFn part);

// ---- grad mode ----
bool grad_enabled();
// RAII guard disabling graph recording (evaluation, sampling, optimizer steps).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

// ---- op hooks: observe every op execution, forward and backward ----
struct OpEvent {
  const char* op;   // registered op name
  bool backward;    // false: forward; true: this op's backward ran
  const std::vector<const Tensor*>& inputs;  // forward: input values; backward: the incoming grad
  const std::vector<const Tensor*>& outputs;  // forward: the value; backward: input grads (may be undefined)
  uint64_t id = 0;                 // events are numbered in the order they fire, from 0
  const std::string& module;       // the module path the op's forward ran in ("" at the top level)
  // forward: for each input, 1 + the id of the event that made it (0: a leaf or unknown);
  // backward: one entry, 1 + the id of this op's forward event.
  const std::vector<uint64_t>& from;
};
using OpHook = std::function<void(const OpEvent&)>;
int add_op_hook(OpHook hook);  // returns an id for remove_op_hook
void remove_op_hook(int id);
bool op_hooks_active();
// RAII: while one exists, no hook fires and no event is numbered (a measuring pass that must not
// appear in a trace or move its event ids, e.g. models/activation_probe.h).
class PauseOpHooks {
 public:
  PauseOpHooks();
  ~PauseOpHooks();
  PauseOpHooks(const PauseOpHooks&) = delete;
  PauseOpHooks& operator=(const PauseOpHooks&) = delete;
};
// A module's forward returned `out` (nn::Child calls this inside the module's scope): fires a
// "module" event, input and output both `out` (its input's "from" names the op that made it), so
// a trace can be read, and compared with PyTorch's module hooks, at module granularity.
void fire_module_event(const Var& out);

// ---- registry of differentiable ops ----
// Each op file registers its op names (LOUPE_REGISTER_OP); tests enumerate them
// so that no op can exist without a gradcheck case.
std::vector<std::string>& op_registry();
struct OpRegistrar {
  explicit OpRegistrar(const char* name) { op_registry().push_back(name); }
};
#define LOUPE_CONCAT_(a, b) a##b
#define LOUPE_CONCAT(a, b) LOUPE_CONCAT_(a, b)
#define LOUPE_REGISTER_OP(name) static ::loupe::OpRegistrar LOUPE_CONCAT(loupe_op_reg_, __LINE__)(name)

}  // namespace loupe
