#include "nn/init.h"

namespace loupe::nn {

uint64_t param_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void init_normal_(Var& p, double std, uint64_t seed, const std::string& name) {
  p.mutable_value().copy_(Tensor::normal(p.shape(), 0.0, std, param_seed(seed, name), p.dtype()));
}

void init_constant_(Var& p, double value) { p.mutable_value().fill_(value); }

}  // namespace loupe::nn
