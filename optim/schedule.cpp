#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace loupe::optim {

double LrSchedule::operator()(int64_t it) const {
  LOUPE_CHECK(it >= 0, "lr schedule: iteration must be >= 0, got ", it);
  switch (kind) {
    case Kind::InvSqrt:
      return std::min(inv_sqrt_cap, inv_sqrt_scale / std::sqrt(double(it + 1)));
    case Kind::Constant:
      if (it < warmup_iters) return lr * double(it + 1) / double(warmup_iters + 1);
      return lr;
    case Kind::Cosine:
      break;
  }
  if (it < warmup_iters) return lr * double(it + 1) / double(warmup_iters + 1);
  if (it > decay_iters || decay_iters <= warmup_iters) return min_lr;
  const double r = double(it - warmup_iters) / double(decay_iters - warmup_iters);
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * r));
  return min_lr + coeff * (lr - min_lr);
}

const std::vector<std::pair<std::string, LrSchedule::Kind>>& LrSchedule::kinds() {
  static const std::vector<std::pair<std::string, Kind>> k = {
      {"constant", Kind::Constant}, {"cosine", Kind::Cosine}, {"inv_sqrt", Kind::InvSqrt}};
  return k;
}

}  // namespace loupe::optim
