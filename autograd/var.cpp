#include "autograd/var.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "tensor/ops.h"

namespace loupe {

Var::Var(Tensor value, bool requires_grad) : p_(std::make_shared<VarImpl>()) {
  LOUPE_CHECK(value.defined(), "Var: cannot wrap an undefined tensor");
  p_->value = std::move(value);
  p_->requires_grad = requires_grad;
}

// ---------------------------------------------------------------- grad mode
static thread_local bool g_grad_enabled = true;
bool grad_enabled() { return g_grad_enabled; }
NoGrad::NoGrad() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = prev_; }

// ---------------------------------------------------------------- hooks
// Function-local statics: hooks may be added from other files' static initialisers (LOUPE_TRACE).
struct HookTable {
  std::mutex mu;
  std::map<int, OpHook> hooks;
  int next = 1;
};
static HookTable& hook_table() {
  static HookTable t;
  return t;
}
static constinit std::atomic<bool> g_hooks_active{false};

int add_op_hook(OpHook hook) {
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  const int id = t.next++;
  t.hooks[id] = std::move(hook);
  g_hooks_active = true;
  return id;
}
void remove_op_hook(int id) {
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  t.hooks.erase(id);
  g_hooks_active = !t.hooks.empty();
}
bool op_hooks_active() { return g_hooks_active; }

static void fire_hooks(const OpEvent& ev) {
  if (!g_hooks_active) return;
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  for (auto& [id, h] : t.hooks) h(ev);
}

std::vector<std::string>& op_registry() {
  static std::vector<std::string> names;
  return names;
}

// ---------------------------------------------------------------- graph
static std::atomic<uint64_t> g_seq{0};

Var make_result(const char* op, Tensor out, std::vector<Var> inputs, BackwardFn backward) {
  if (g_hooks_active) {
    std::vector<const Tensor*> ins, outs{&out};
    for (auto& v : inputs) ins.push_back(v.defined() ? &v.value() : nullptr);
    fire_hooks(OpEvent{op, false, ins, outs});
  }
  Var r(std::move(out), false);
  if (!g_grad_enabled) return r;
  bool any = false;
  for (auto& v : inputs) any = any || v.requires_grad();
  if (!any) return r;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->seq = g_seq++;
  r.p_->node = std::move(node);
  r.p_->requires_grad = true;
  return r;
}

// Adds g into v's grad, reducing over broadcast dims is the op's job (shapes must match).
static void accumulate(VarImpl* v, const Tensor& g, const char* op) {
  LOUPE_CHECK(g.shape() == v->value.shape(), "backward of ", op, ": gradient shape ", shape_str(g.shape()),
              " does not match input shape ", shape_str(v->value.shape()));
  if (!v->grad.defined()) {
    // Own a fresh contiguous copy in the value's dtype: later in-place accumulation must not alias.
    Tensor c = Tensor::empty(v->value.shape(), v->value.dtype());
    c.copy_(g);
    v->grad = c;
    return;
  }
  add_(v->grad, g.to(v->grad.dtype()));  // grad[i] + g[i], the same rounding in any thread split
}

void Var::backward() const {
  LOUPE_CHECK(numel() == 1, "backward(): output ", value().str(), " is not a scalar; pass a seed gradient");
  backward(Tensor::ones(shape(), dtype()));
}

void Var::backward(const Tensor& seed) const {
  LOUPE_CHECK(requires_grad(), "backward(): this Var does not require grad (no input requires grad, or NoGrad)");
  LOUPE_CHECK(seed.shape() == shape(), "backward(): seed ", seed.str(), " does not match output ", value().str());
  // Topological order by DFS (iterative, graphs can be deep).
  std::vector<VarImpl*> order;
  std::unordered_set<VarImpl*> seen;
  std::vector<std::pair<VarImpl*, size_t>> stack{{p_.get(), 0}};
  seen.insert(p_.get());
  std::unordered_map<VarImpl*, std::shared_ptr<VarImpl>> keep;  // hold inputs alive while we free nodes
  while (!stack.empty()) {
    auto& [v, i] = stack.back();
    if (v->node && i < v->node->inputs.size()) {
      const Var& in = v->node->inputs[i++];
      VarImpl* c = in.p_.get();
      if (c && c->requires_grad && !seen.count(c)) {
        seen.insert(c);
        keep[c] = in.p_;
        stack.push_back({c, 0});
      }
    } else {
      order.push_back(v);
      stack.pop_back();
    }
  }
  // Gradients of intermediate Vars are kept in a side table; leaves accumulate into .grad.
  std::unordered_map<VarImpl*, Tensor> pending;
  // Vars whose pending gradient is a sum this loop allocated: nothing else refers to it, so
  // further gradients are added into it in place. (A first gradient may alias another
  // tensor, e.g. add's backward hands the same g to both inputs, so it is never written.)
  std::unordered_set<VarImpl*> owned_sum;
  pending[p_.get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VarImpl* v = *it;
    auto pg = pending.find(v);
    if (pg == pending.end()) continue;
    Tensor g = pg->second;
    pending.erase(pg);
    if (!v->node) {
      accumulate(v, g, "leaf");
      continue;
    }
    std::shared_ptr<Node> node = v->node;
    std::vector<Tensor> grads = node->backward(g);
    LOUPE_CHECK(grads.size() == node->inputs.size(), "backward of ", node->op, ": returned ", grads.size(),
                " gradients for ", node->inputs.size(), " inputs");
    if (g_hooks_active) {
      std::vector<const Tensor*> ins{&g}, outs;
      for (auto& t : grads) outs.push_back(&t);
      fire_hooks(OpEvent{node->op.c_str(), true, ins, outs});
    }
    for (size_t k = 0; k < grads.size(); ++k) {
      VarImpl* in = node->inputs[k].p_.get();
      if (!in || !in->requires_grad || !grads[k].defined()) continue;
      if (!in->node) {
        accumulate(in, grads[k], node->op.c_str());
        continue;
      }
      LOUPE_CHECK(grads[k].shape() == in->value.shape(), "backward of ", node->op, ": gradient for input ", k,
                  " has shape ", shape_str(grads[k].shape()), ", input has ", shape_str(in->value.shape()));
      auto pit = pending.find(in);
      const DType dt = in->value.dtype();
      if (pit == pending.end()) {
        pending[in] = grads[k];
      } else if (owned_sum.count(in)) {
        add_(pit->second, grads[k].to(dt));
      } else {  // earlier gradient + this one, in that order (as every later one is)
        pit->second = add(pit->second.to(dt), grads[k].to(dt));
        owned_sum.insert(in);
      }
    }
    // Free the graph behind us: this node's closure and inputs are no longer needed.
    if (v != p_.get()) v->node.reset();
  }
  p_->node.reset();
}

}  // namespace loupe
