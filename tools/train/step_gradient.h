// One optimizer step's gradient, summed over its micro-batches and the ranks of the job in one
// fixed order. A step of N ranks × grad_accum A runs A·N micro-batches m = a·N + r (rank r
// takes m = r, N + r, 2N + r, …); the step's gradient is the left fold
//     G = (((g₀ + g₁) + g₂) + … + g_{A·N−1}),
// exactly what one process computes with grad_accum A·N over the same micro-batches. Each
// micro-batch's backward starts from zeroed grads (so a parameter used twice, such as a tied
// embedding, sums its own contributions first), then add() folds that micro-batch into G across
// the ranks (Cluster::sum_in_rank_order); install() puts G back into the parameters' grads.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/var.h"
#include "tools/train/cluster.h"

namespace loupe::tools {

class StepGradient {
 public:
  explicit StepGradient(std::vector<Var> params);
  // Folds every rank's current grads (this micro-step's backward) into the step's sum, then
  // clears the grads. `first`: the step's first micro-step (the sum starts empty).
  void add(Cluster& cluster, bool first);
  // Sets each parameter's grad to the step's sum (left undefined where no micro-batch on any
  // rank reached the parameter, as one process would).
  void install();
  // Bytes one add() reduces (the gradient and one presence count per parameter).
  uint64_t bytes() const;

 private:
  template <class T> void add_typed(Cluster& cluster, bool first);
  template <class T> void install_typed();
  std::vector<Var> params_;
  std::vector<int64_t> offsets_;  // start of each parameter in the flat buffers; presence counts at the end
  int64_t total_ = 0;             // flat length: Σ numel + one presence count per parameter
  DType dtype_ = DType::F32;
  std::vector<float> mine32_, sum32_;
  std::vector<double> mine64_, sum64_;
};

}  // namespace loupe::tools
