// Builds the optimizer a training config asks for, with nanoGPT's two parameter
// groups: weight decay on the named "decay" parameters (dim >= 2), none on the rest.
#pragma once
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "optim/optimizer.h"

namespace loupe::optim {

// train_cfg keys: optimizer ("adamw" | "adam" | "sgd"), weight_decay, beta1, beta2, eps, momentum, nesterov.
std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& train_cfg,
                                          const std::vector<std::pair<std::string, Var>>& named_params,
                                          const std::set<std::string>& decay_names);

}  // namespace loupe::optim
