// Optimizer: the shared machinery of SGD / Adam / AdamW — parameter groups
// (each with its own lr multiplier and weight decay), per-parameter state
// tensors ("slots", e.g. Adam's exp_avg and exp_avg_sq), step / zero_grad,
// and the optimizer state as named tensors for checkpoints.
//
// Each optimizer updates a parameter in ONE fused pass over its elements
// (value, grad and slots read and written once), SIMD inside fixed chunks
// whose boundaries depend only on the parameter size, so the result is
// bitwise identical for any thread count. The chunks of all parameters run
// in one parallel loop per step.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace loupe::optim {

struct ParamGroup {
  std::vector<std::pair<std::string, Var>> params;  // named, names unique across all groups
  double lr_scale = 1.0;      // this group's lr = base lr * lr_scale
  double weight_decay = 0.0;  // L2 (SGD, Adam) or decoupled (AdamW) coefficient
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, std::vector<std::string> slot_names, const char* name);
  virtual ~Optimizer() = default;

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t step_count() const { return t_; }  // completed steps

  // One update of every parameter that has a gradient; grads are multiplied by
  // grad_scale inside the fused pass (how the trainer applies gradient clipping).
  void step(double grad_scale = 1.0);
  void zero_grad();

  // "<param name>.<slot>" -> state tensor (shares storage), plus "step" (i64 scalar).
  std::map<std::string, Tensor> state_dict() const;
  // Copies state in; every name, shape and dtype must match (errors name the key).
  void load_state_dict(const std::map<std::string, Tensor>& sd);

  struct Entry {
    std::string name;
    Var param;
    double lr_scale, weight_decay;
    std::vector<Tensor> slots;  // zeros, same shape and dtype as the parameter
  };
  const std::vector<Entry>& entries() const { return entries_; }

 protected:
  // Updates elements [begin, end) of one parameter in place, on the calling thread (step() runs
  // these ranges in parallel). value and slots are contiguous; grad is contiguous, same dtype.
  // `t` is the 1-based index of this step (for bias corrections).
  virtual void update(const Tensor& value, const Tensor& grad, std::vector<Tensor>& slots, double lr,
                      double weight_decay, double grad_scale, int64_t t, int64_t begin, int64_t end) = 0;

 private:
  std::vector<Entry> entries_;
  std::vector<std::string> slot_names_;
  const char* name_;
  double lr_ = 1e-3;
  int64_t t_ = 0;
};

// Elements per chunk of the fused update loops: a multiple of every SIMD width, fixed so the
// split of work (and therefore every rounding) never depends on the thread count.
inline constexpr int64_t kUpdateGrain = 1 << 14;

}  // namespace loupe::optim
