#include "autograd/var.h"

#include "autograd/run_context.h"

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
static constinit std::atomic<bool> g_hooks_registered{false};  // some hook is installed
static constinit std::atomic<int> g_hooks_paused{0};            // PauseOpHooks guards alive
static constinit std::atomic<bool> g_hooks_active{false};       // registered and not paused
static void update_active() { g_hooks_active = g_hooks_registered && g_hooks_paused == 0; }

int add_op_hook(OpHook hook) {
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  const int id = t.next++;
  t.hooks[id] = std::move(hook);
  g_hooks_registered = true;
  update_active();
  return id;
}
void remove_op_hook(int id) {
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  t.hooks.erase(id);
  g_hooks_registered = !t.hooks.empty();
  update_active();
}
bool op_hooks_active() { return g_hooks_active; }

PauseOpHooks::PauseOpHooks() {
  std::lock_guard<std::mutex> lk(hook_table().mu);
  ++g_hooks_paused;
  update_active();
}
PauseOpHooks::~PauseOpHooks() {
  std::lock_guard<std::mutex> lk(hook_table().mu);
  --g_hooks_paused;
  update_active();
}

static std::atomic<uint64_t> g_event{0};  // op events fired so far

// Fires the hooks for one event; returns 1 + its id.
static uint64_t fire_hooks(const char* op, bool backward, const std::vector<const Tensor*>& ins,
                           const std::vector<const Tensor*>& outs, const std::string& module,
                           const std::vector<uint64_t>& from) {
  auto& t = hook_table();
  std::lock_guard<std::mutex> lk(t.mu);
  const uint64_t id = g_event++;
  const OpEvent ev{op, backward, ins, outs, id, module, from};
  for (auto& [hid, h] : t.hooks) h(ev);
  return id + 1;
}

void fire_module_event(const Var& out) {
  if (!g_hooks_active || !out.defined()) return;
  const std::vector<const Tensor*> t{&out.value()};
  fire_hooks("module", false, t, t, current_module_path(), {out.p_->event});
}

std::vector<std::string>& op_registry() {
  static std::vector<std::string> names;
  return names;
}

// ---------------------------------------------------------------- graph
static std::atomic<uint64_t> g_seq{0};

Var make_result(const char* op, Tensor out, std::vector<Var> inputs, BackwardFn backward) {
  uint64_t event = 0;
  if (g_hooks_active) {
    std::vector<const Tensor*> ins, outs{&out};
    std::vector<uint64_t> from;
    for (auto& v : inputs) {
      ins.push_back(v.defined() ? &v.value() : nullptr);
      from.push_back(v.defined() ? v.p_->event : 0);
    }
    event = fire_hooks(op, false, ins, outs, current_module_path(), from);
  }
  Var r(std::move(out), false);
  r.p_->event = event;
  if (!g_grad_enabled) return r;
  bool any = false;
  for (auto& v : inputs) any = any || v.requires_grad();
  if (!any) return r;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->seq = g_seq++;
  if (event) {
    node->module = current_module_path();
    node->event = event;
  }
  r.p_->node = std::move(node);
  r.p_->requires_grad = true;
  return r;
}

Var make_part_result(const char* op, const Var& x, PartFn part) {
  Tensor out = part(x.value());
  Var r = make_result(op, std::move(out), {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  if (r.node()) r.node()->part = std::move(part);
  return r;
}

// True when g is a contiguous tensor in dtype dt that nothing but `g` itself refers to, so a
// gradient slot may take it over and later write into it.
static bool sole_owner(const Tensor& g, DType dt) {
  return g.storage().use_count() == 1 && g.dtype() == dt && g.is_contiguous();
}

// Adds the gradient g into `slot`, the gradient being gathered for a Var whose value is
// `value`. g is for the whole value, or (a view op's `part`) for part(value) only.
// `owned`: slot is a tensor nothing else refers to, so it is added into in place; otherwise
// (a gradient handed on by another op, which may alias, e.g. add gives one g to both inputs)
// a new sum is made. The sum is slot + g in that order, the same rounding in any thread split.
static void add_gradient(Tensor& slot, bool& owned, const Tensor& value, Tensor g, const PartFn& part,
                         const char* op) {
  const DType dt = value.dtype();
  if (part) {
    const Shape want = part(value).shape();
    LOUPE_CHECK(g.shape() == want, "backward of ", op, ": gradient shape ", shape_str(g.shape()),
                " does not match the part's shape ", shape_str(want));
    if (!slot.defined()) {
      slot = Tensor::zeros(value.shape(), dt);
      owned = true;
      part(slot).copy_(g);
      return;
    }
    if (!owned) {
      slot = slot.to(dt).clone();
      owned = true;
    }
    Tensor region = part(slot);
    add_(region, g.to(dt));
    return;
  }
  LOUPE_CHECK(g.shape() == value.shape(), "backward of ", op, ": gradient shape ", shape_str(g.shape()),
              " does not match input shape ", shape_str(value.shape()));
  if (!slot.defined()) {
    owned = sole_owner(g, dt);
    slot = std::move(g);
  } else if (owned) {
    add_(slot, g.to(dt));
  } else {
    slot = add(slot.to(dt), g.to(dt));
    owned = true;
  }
}

// A leaf's .grad is always a tensor it owns (later backward calls add into it in place):
// the first gradient is taken over when nothing else refers to it, copied otherwise.
static void accumulate_leaf(VarImpl* v, Tensor g, const PartFn& part, const char* op) {
  bool owned = true;
  add_gradient(v->grad, owned, v->value, std::move(g), part, op);
  if (!owned) {
    Tensor c = Tensor::empty(v->value.shape(), v->value.dtype());
    c.copy_(v->grad);
    v->grad = c;
  }
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
  // Vars whose pending gradient is a tensor nothing else refers to (a sum this loop made, or a
  // gradient handed over whole): further gradients are added into it in place.
  std::unordered_set<VarImpl*> owned_sum;
  pending[p_.get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VarImpl* v = *it;
    auto pg = pending.find(v);
    if (pg == pending.end()) continue;
    Tensor g = std::move(pg->second);
    pending.erase(pg);
    owned_sum.erase(v);
    if (!v->node) {
      accumulate_leaf(v, std::move(g), nullptr, "leaf");
      continue;
    }
    std::shared_ptr<Node> node = v->node;
    std::vector<Tensor> grads = node->backward(g);
    LOUPE_CHECK(grads.size() == node->inputs.size(), "backward of ", node->op, ": returned ", grads.size(),
                " gradients for ", node->inputs.size(), " inputs");
    if (g_hooks_active) {
      std::vector<const Tensor*> ins{&g}, outs;
      for (auto& t : grads) outs.push_back(&t);
      fire_hooks(node->op.c_str(), true, ins, outs, node->module, {node->event});
    }
    g = Tensor();  // drop our reference, so a gradient passed through (e.g. by a view) can be owned
    for (size_t k = 0; k < grads.size(); ++k) {
      VarImpl* in = node->inputs[k].p_.get();
      if (!in || !in->requires_grad || !grads[k].defined()) continue;
      if (!in->node) {
        accumulate_leaf(in, std::move(grads[k]), node->part, node->op.c_str());
        continue;
      }
      Tensor& slot = pending[in];
      bool owned = owned_sum.count(in) > 0;
      add_gradient(slot, owned, in->value, std::move(grads[k]), node->part, node->op.c_str());
      if (owned) owned_sum.insert(in);
    }
    // Free the graph behind us: this node's closure and inputs are no longer needed.
    if (v != p_.get()) v->node.reset();
  }
  p_->node.reset();
}

}  // namespace loupe
