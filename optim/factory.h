// The optimizer a run asks for, with nanoGPT's two parameter groups: weight decay on the named
// "decay" parameters (dim >= 2), none on the rest.
//
// OptimizerConfig's defaults are a run config's (nanoGPT's AdamW with β2 0.99 and weight decay
// 0.1; tools/train/run_config.h reads these members from the train section). They differ from
// AdamOptions' defaults on purpose: those are PyTorch's, for code that builds an Adam directly.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "optim/optimizer.h"

namespace loupe::optim {

struct OptimizerConfig {
  enum class Kind { AdamW, Adam, SGD };
  Kind optimizer = Kind::AdamW;
  double weight_decay = 0.1;  // on the decay group (AdamW: decoupled; Adam, SGD: added to the gradient)
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8;  // Adam and AdamW
  double momentum = 0.0;                         // SGD
  bool nesterov = false;                         // SGD
  // Each kind with its name in configs: "adamw", "adam", "sgd".
  static const std::vector<std::pair<std::string, Kind>>& kinds();
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const std::vector<std::pair<std::string, Var>>& named_params,
                                          const std::set<std::string>& decay_names);

}  // namespace loupe::optim
