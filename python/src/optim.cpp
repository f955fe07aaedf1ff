// loupe's optimizers (optim/) over named parameters: SGD, Adam, AdamW, each update one fused pass
// per parameter, bitwise the same for any thread count. The Python classes (loupe/optim.py) turn
// PyTorch's arguments (params or param groups, lr, betas, ...) into these.
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "optim/adam.h"
#include "optim/sgd.h"
#include "python/src/bindings.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using Named = std::vector<std::pair<std::string, Var>>;

// One group per (named params, lr scale, weight decay) triple.
std::vector<optim::ParamGroup> groups_of(const std::vector<Named>& params, const std::vector<double>& lr_scale,
                                         const std::vector<double>& weight_decay) {
  std::vector<optim::ParamGroup> g(params.size());
  for (size_t i = 0; i < g.size(); ++i) {
    g[i].params = params[i];
    g[i].lr_scale = lr_scale.at(i);
    g[i].weight_decay = weight_decay.at(i);
  }
  return g;
}

}  // namespace

void bind_optim(nb::module_& m) {
  nb::class_<optim::Optimizer>(m, "_Optimizer")
      .def_prop_rw("lr", &optim::Optimizer::lr, &optim::Optimizer::set_lr)
      .def_prop_ro("step_count", &optim::Optimizer::step_count)
      .def("step", &optim::Optimizer::step, "grad_scale"_a = 1.0, nb::call_guard<nb::gil_scoped_release>())
      .def("zero_grad", &optim::Optimizer::zero_grad)
      .def("state_dict", [](const optim::Optimizer& o) { return vars_of(o.state_dict()); })
      .def("load_state_dict", [](optim::Optimizer& o, const std::map<std::string, Var>& sd) {
        o.load_state_dict(tensors_of(sd));
      });
  m.def("_sgd", [](const std::vector<Named>& params, const std::vector<double>& lr_scale,
                   const std::vector<double>& wd, double lr, double momentum, bool nesterov) {
    optim::SGDOptions opt;
    opt.momentum = momentum;
    opt.nesterov = nesterov;
    auto o = std::make_unique<optim::SGD>(groups_of(params, lr_scale, wd), opt);
    o->set_lr(lr);
    return std::unique_ptr<optim::Optimizer>(std::move(o));
  });
  m.def("_adam", [](const std::vector<Named>& params, const std::vector<double>& lr_scale,
                    const std::vector<double>& wd, double lr, double beta1, double beta2, double eps, bool decoupled) {
    optim::AdamOptions opt;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    opt.decoupled_weight_decay = decoupled;
    auto o = std::make_unique<optim::Adam>(groups_of(params, lr_scale, wd), opt);
    o->set_lr(lr);
    return std::unique_ptr<optim::Optimizer>(std::move(o));
  });
}

}  // namespace loupe::py
