#include "optim/factory.h"

#include "optim/adam.h"
#include "optim/sgd.h"

namespace loupe::optim {

std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& c,
                                          const std::vector<std::pair<std::string, Var>>& named_params,
                                          const std::set<std::string>& decay_names) {
  const std::string kind = c.value("optimizer", std::string("adamw"));
  const double wd = c.value("weight_decay", 0.0);
  ParamGroup decay{{}, 1.0, wd}, no_decay{{}, 1.0, 0.0};
  for (auto& np : named_params) (decay_names.count(np.first) ? decay : no_decay).params.push_back(np);
  std::vector<ParamGroup> groups{decay, no_decay};
  if (kind == "adamw" || kind == "adam") {
    AdamOptions o;
    o.beta1 = c.value("beta1", 0.9);
    o.beta2 = c.value("beta2", 0.999);
    o.eps = c.value("eps", 1e-8);
    o.decoupled_weight_decay = kind == "adamw";
    return std::make_unique<Adam>(std::move(groups), o);
  }
  if (kind == "sgd") {
    SGDOptions o;
    o.momentum = c.value("momentum", 0.0);
    o.nesterov = c.value("nesterov", false);
    return std::make_unique<SGD>(std::move(groups), o);
  }
  LOUPE_CHECK(false, "optimizer: unknown optimizer '", kind, "' (known: adamw, adam, sgd)");
  return nullptr;
}

}  // namespace loupe::optim
