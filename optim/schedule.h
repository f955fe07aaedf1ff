// Learning-rate schedules, as a function of the 0-based iteration `it`.
//   constant:  lr                                   (after an optional linear warmup)
//   cosine:    nanoGPT's get_lr —
//                it < warmup:          lr · (it + 1) / (warmup + 1)
//                it > decay_iters:     min_lr
//                otherwise:            min_lr + ½(1 + cos(π·r))·(lr − min_lr),
//                                      r = (it − warmup) / (decay_iters − warmup)
//   inv_sqrt:  min(cap, scale / √(it + 1))          (cap 1e-3, scale 1e-2 by default)
#pragma once
#include <cstdint>
#include <string>

namespace loupe::optim {

struct LrSchedule {
  enum class Kind { Constant, Cosine, InvSqrt };
  Kind kind = Kind::Cosine;
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_iters = 0;
  int64_t decay_iters = 1;
  double inv_sqrt_cap = 1e-3;
  double inv_sqrt_scale = 1e-2;

  double operator()(int64_t it) const;
  // "constant" | "cosine" | "inv_sqrt"; anything else throws naming the known ones.
  static Kind parse_kind(const std::string& name);
};

}  // namespace loupe::optim
