// One optimizer step, as nanoGPT's train.py takes it, and the only place a step is taken:
// `loupe train`, `loupe bench train`, `loupe compare`, the fingerprints and `loupe audit shadow`
// all call TrainingStep::run.
//   lr = schedule(it)
//   for each of the step's M = grad_accum · ranks micro-batches m (this rank runs m = a·ranks + rank):
//       batch (x, y) = training batch it·M + m          (TokenDataset::batch, keyed by the seed)
//       loss_m = model.loss(x, y);  backward of loss_m / M   (models/model.h: cross-entropy of the next token)
//   the gradients folded in m order (StepGradient: the same sum on 1 or N ranks)
//   g = global gradient norm;  clip coefficient c = min(1, grad_clip / g)  (no clip: c = 1)
//   optimizer step with the gradients scaled by c;  zero the gradients
// Every random draw inside (dropout) is keyed by (seed, it, m, module path, call), so a step
// depends only on the weights, the optimizer state and `it`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "models/model.h"
#include "optim/optimizer.h"
#include "tools/text/dataset.h"
#include "tools/train/cluster.h"
#include "tools/train/run_config.h"
#include "tools/train/step_gradient.h"

namespace loupe::tools {

// The batch of micro-batch m of step `it`, M micro-batches a step over all ranks: batch index
// it·M + m of the train split's stream `seed`, `rows` rows of `block` tokens. TrainingStep::run
// draws its batches here, and `loupe batches` writes them for other frameworks to train on.
void training_batch(const text::TokenDataset& data, uint64_t seed, int64_t rows, int64_t block, int64_t it, int64_t M,
                    int64_t m, Tensor& x, Tensor& y);

class TrainingStep {
 public:
  struct Result {
    double loss = 0;       // mean over the step's micro-batches (the same on every rank)
    double grad_norm = 0;  // before clipping; 0 unless clipping or want_norm
    double lr = 0;
  };
  // The optimizer (train config's, over the model's parameters with nanoGPT's decay groups) is
  // built here. Refuses, naming the key, a batch_size that the ranks do not divide, more than
  // 65536 micro-batches per step, or a batch the machine's memory cannot hold.
  TrainingStep(models::LanguageModel& model, const TrainConfig& config, const text::TokenDataset& data,
               Cluster& cluster = Cluster::single());
  // Step `it` (0-based). `before_micro(m, M)` is called before each micro-batch this rank runs.
  Result run(int64_t it, bool want_norm, const std::function<void(int64_t, int64_t)>& before_micro = {});
  // Called by run() once the gradients are whole and before the optimizer updates (its argument
  // is the clip coefficient the update will apply): `loupe explore` reads the gradients and the
  // weights there, to show each parameter's gradient and update.
  void set_before_update(std::function<void(double)> f) { before_update_ = std::move(f); }

  optim::Optimizer& optimizer() { return *optimizer_; }
  int64_t rows() const { return rows_; }                      // rows of one micro-batch on this rank
  int64_t micro_per_step() const { return accum_ * cluster_.size(); }
  int64_t tokens_per_step() const { return rows_ * model_.block_size() * micro_per_step(); }  // over all ranks
  uint64_t reduced_bytes_per_step() const;                    // gradient bytes each rank folds per step

 private:
  models::LanguageModel& model_;
  const TrainConfig config_;  // a copy: the caller's config need not outlive the step
  const text::TokenDataset& data_;
  Cluster& cluster_;
  int64_t rows_ = 0, accum_ = 1;
  std::vector<Var> params_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<StepGradient> grad_;
  std::function<void(double)> before_update_;  // the fold over micro-batches and ranks (none: one micro-batch, one rank)
};

}  // namespace loupe::tools
