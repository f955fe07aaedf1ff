#include "optim/factory.h"

#include "optim/adam.h"
#include "optim/sgd.h"

namespace loupe::optim {

const std::vector<std::pair<std::string, OptimizerConfig::Kind>>& OptimizerConfig::kinds() {
  static const std::vector<std::pair<std::string, Kind>> k = {{"adamw", Kind::AdamW}, {"adam", Kind::Adam}, {"sgd", Kind::SGD}};
  return k;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c,
                                          const std::vector<std::pair<std::string, Var>>& named_params,
                                          const std::set<std::string>& decay_names) {
  ParamGroup decay{{}, 1.0, c.weight_decay}, no_decay{{}, 1.0, 0.0};
  for (auto& np : named_params) (decay_names.count(np.first) ? decay : no_decay).params.push_back(np);
  std::vector<ParamGroup> groups{decay, no_decay};
  if (c.optimizer == OptimizerConfig::Kind::SGD) {
    SGDOptions o;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov;
    return std::make_unique<SGD>(std::move(groups), o);
  }
  AdamOptions o;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.decoupled_weight_decay = c.optimizer == OptimizerConfig::Kind::AdamW;
  return std::make_unique<Adam>(std::move(groups), o);
}

}  // namespace loupe::optim
