// Learning-rate schedules, as a function of the 0-based iteration `it`.
//   constant:  lr                                   (after an optional linear warmup)
//   cosine:    nanoGPT's get_lr —
//                it < warmup:          lr · (it + 1) / (warmup + 1)
//                it > decay_iters:     min_lr
//                otherwise:            min_lr + ½(1 + cos(π·r))·(lr − min_lr),
//                                      r = (it − warmup) / (decay_iters − warmup)
//   inv_sqrt:  min(cap, scale / √(it + 1))          (cap 1e-3, scale 1e-2 by default)
// The defaults are a run config's (tools/train/run_config.h reads these members from its train
// section: schedule, lr, min_lr, warmup_iters, lr_decay_iters, inv_sqrt_cap, inv_sqrt_scale).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loupe::optim {

struct LrSchedule {
  enum class Kind { Constant, Cosine, InvSqrt };
  Kind kind = Kind::Cosine;
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_iters = 100;
  int64_t decay_iters = 2000;
  double inv_sqrt_cap = 1e-3;
  double inv_sqrt_scale = 1e-2;

  double operator()(int64_t it) const;
  // Each kind with its name in configs: "constant", "cosine", "inv_sqrt".
  static const std::vector<std::pair<std::string, Kind>>& kinds();
};

}  // namespace loupe::optim
