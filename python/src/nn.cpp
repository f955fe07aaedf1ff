// What loupe.nn and loupe.nn.functional stand on: the fused layer ops (autograd/nn_ops.h), the
// module scope a Python Module's call enters (so traces and random ops see the dotted path, as
// for a C++ Child call), parameter initialisation, grad mode, gradcheck and the thread count.
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "autograd/gradcheck.h"
#include "autograd/nn_ops.h"
#include "autograd/ops/elita_attention.h"
#include "autograd/run_context.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "optim/clip.h"
#include "python/src/bindings.h"
#include "tensor/parallel.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using Release = nb::call_guard<nb::gil_scoped_release>;

// A context manager around an RAII guard: __enter__ makes it, __exit__ ends it.
template <class Guard>
struct Scoped {
  std::unique_ptr<Guard> guard;
};

struct ModuleCall {
  uintptr_t module;
  std::string path;
  std::unique_ptr<ModuleScope> scope;
};

void bind_layer_ops(nb::module_& m) {
  m.def("linear", [](const Var& x, const Var& w, std::optional<Var> b) { return nn::linear(x, w, b.value_or(Var())); },
        "input"_a, "weight"_a, "bias"_a = nb::none(), Release());
  m.def("layer_norm", [](const Var& x, const Var& w, std::optional<Var> b, double eps) {
    return layer_norm(x, w, b.value_or(Var()), eps);
  }, "input"_a, "weight"_a, "bias"_a = nb::none(), "eps"_a = 1e-5, Release());
  m.def("rms_norm", [](const Var& x, const Var& w, double eps) { return rms_norm(x, w, eps); }, "input"_a,
        "weight"_a, "eps"_a = 1e-5, Release());
  // dropout as nn::Dropout draws it in training mode: keyed at the running module's path.
  m.def("dropout", &nn::module_dropout, "input"_a, "p"_a, Release());
  m.def("dropout_keyed", [](const Var& x, double p, uint64_t seed, uint64_t counter) {
    return dropout(x, p, seed, counter);
  }, "input"_a, "p"_a, "seed"_a, "counter"_a, Release());
  m.def("rope", [](const Var& x, int64_t pos_offset, double base) { return rope(x, pos_offset, base); }, "input"_a,
        "pos_offset"_a = 0, "base"_a = 10000.0, Release());
  m.def("rotate_pairs", [](const Var& x, const Var& c, const Var& s) { return rotate_pairs(x, c, s); }, "input"_a,
        "cos"_a, "sin"_a, Release());
  // causal_attention(q, k, v): q [B, H, Tq, D], k and v [B, Hkv, Tk, D]; attention dropout keyed
  // by site "attn" of the running module, as nn::CausalSelfAttention's.
  m.def("causal_attention", [](const Var& q, const Var& k, const Var& v, int64_t q_offset, double scale,
                               double dropout_p) {
    AttentionOptions opt = nn::attention_dropout(true, dropout_p);
    opt.q_offset = q_offset;
    opt.scale = scale;
    return causal_attention(q, k, v, opt);
  }, "q"_a, "k"_a, "v"_a, "q_offset"_a = 0, "scale"_a = 0.0, "dropout_p"_a = 0.0, Release());
  m.def("elita_attention", [](const Var& a, const Var& g, const Var& d, const Var& v) {
    return elita_attention(a, g, d, v);
  }, Release());
}

void bind_scopes(nb::module_& m) {
  nb::class_<Scoped<NoGrad>>(m, "no_grad", "with loupe.no_grad(): ops record no graph (evaluation, updates)")
      .def(nb::init<>())
      .def("__enter__", [](Scoped<NoGrad>& s) { s.guard = std::make_unique<NoGrad>(); })
      .def("__exit__", [](Scoped<NoGrad>& s, nb::args) { s.guard.reset(); });
  m.def("is_grad_enabled", &grad_enabled);

  // with _ModuleCall(id(module), "transformer.h.0"): what nn::Child's call does around forward.
  nb::class_<ModuleCall>(m, "_ModuleCall")
      .def(nb::init<uintptr_t, std::string>())
      .def("__enter__", [](ModuleCall& c) {
        c.scope = std::make_unique<ModuleScope>(reinterpret_cast<const void*>(c.module), c.path);
      })
      .def("__exit__", [](ModuleCall& c, nb::args) { c.scope.reset(); });
  m.def("_fire_module_event", &fire_module_event, "the module's output, for module-level traces");
  m.def("_current_module", [] { return reinterpret_cast<uintptr_t>(current_module()); });
  m.def("_current_module_path", [] { return current_module_path(); });
  m.def("set_step", &set_step, "run_seed"_a, "step"_a,
        "the run seed and step that key every random op (dropout masks), as the trainer sets them");
  m.def("set_micro_batch", &set_micro_batch, "micro"_a);
}

void bind_misc(nb::module_& m) {
  m.def("param_seed", &nn::param_seed, "seed"_a, "name"_a,
        "the RNG seed of one named parameter (nn/init.h): FNV-1a of the name mixed with the seed");
  // clip_grad_norm_(params, max_norm): scales the grads in place so their global norm is at most
  // max_norm (a deterministic f64 sum, optim/clip.h); returns the norm before clipping.
  m.def("clip_grad_norm_", [](const std::vector<Var>& params, double max_norm) {
    return optim::clip_grad_norm_(params, max_norm);
  }, "parameters"_a, "max_norm"_a, Release());
  // The trainer's clipping in two halves (tools/train/step.cpp): the global norm, then the factor the
  // optimizer multiplies the grads by inside its fused pass (Optimizer.step(grad_scale=)).
  m.def("grad_global_norm", &optim::grad_global_norm, "parameters"_a, Release());
  m.def("clip_coefficient", &optim::clip_coefficient, "total_norm"_a, "max_norm"_a);
  m.def("set_num_threads", [](int n) { set_num_threads(n); }, "n"_a);
  m.def("get_num_threads", [] { return get_num_threads(); });

  nb::class_<GradcheckResult>(m, "GradcheckResult")
      .def_ro("ok", &GradcheckResult::ok)
      .def_ro("max_abs_err", &GradcheckResult::max_abs_err)
      .def_ro("max_rel_err", &GradcheckResult::max_rel_err)
      .def_ro("worst_input", &GradcheckResult::worst_input)
      .def_ro("worst_index", &GradcheckResult::worst_index)
      .def_ro("report", &GradcheckResult::report)
      .def("__bool__", [](const GradcheckResult& r) { return r.ok; })
      .def("__repr__", [](const GradcheckResult& r) { return "GradcheckResult(" + r.report + ")"; });
  // gradcheck(f, inputs): f's analytic gradient against central differences in float64.
  m.def("_gradcheck", [](const std::function<Var(std::vector<Var>)>& f, const std::vector<Var>& inputs, double eps,
                         double atol, double rtol, uint64_t seed) {
    std::vector<Tensor> values;
    for (const Var& v : inputs) values.push_back(v.value());
    GradcheckOptions opt;
    opt.eps = eps;
    opt.atol = atol;
    opt.rtol = rtol;
    opt.seed = seed;
    return gradcheck([&](const std::vector<Var>& xs) { return f(xs); }, values, opt);
  }, "f"_a, "inputs"_a, "eps"_a, "atol"_a, "rtol"_a, "seed"_a);
}

}  // namespace

void bind_nn(nb::module_& m) {
  bind_layer_ops(m);
  bind_scopes(m);
  bind_misc(m);
}

}  // namespace loupe::py
