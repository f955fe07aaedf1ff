#include "tools/train/step.h"

#include <cmath>
#include <set>
#include <string>

#include "autograd/ops.h"
#include "autograd/run_context.h"
#include "models/activation_probe.h"
#include "optim/clip.h"

namespace loupe::tools {

void training_batch(const text::TokenDataset& data, uint64_t seed, int64_t rows, int64_t block, int64_t it, int64_t M,
                    int64_t m, Tensor& x, Tensor& y) {
  data.batch(text::Split::Train, rows, block, seed, uint64_t(it * M + m), x, y);
}

TrainingStep::TrainingStep(models::LanguageModel& model, const TrainConfig& config, const text::TokenDataset& data,
                           Cluster& cluster)
    : model_(model), config_(config), data_(data), cluster_(cluster) {
  const int64_t ranks = cluster.size();
  LOUPE_CHECK(config.batch_size % ranks == 0, "train.batch_size ", config.batch_size, " does not divide by the ", ranks,
              " ranks (it is the global batch: each rank takes batch_size / ranks rows)");
  rows_ = config.batch_size / ranks;
  accum_ = config.grad_accum;
  LOUPE_CHECK(micro_per_step() <= 65536, "train.grad_accum ", accum_, " × ", ranks,
              " ranks is more than 65536 micro-batches per step");
  models::check_training_memory(model, rows_, model.block_size(), "train");  // before the optimizer's state exists
  const auto named = model.named_parameters();
  const auto decay = model.decay_parameter_names();
  optimizer_ = optim::make_optimizer(config, named, std::set<std::string>(decay.begin(), decay.end()));
  for (auto& [_, p] : named) params_.push_back(p);
  if (micro_per_step() > 1) grad_ = std::make_unique<StepGradient>(params_);
}

uint64_t TrainingStep::reduced_bytes_per_step() const {
  return grad_ && cluster_.size() > 1 ? grad_->bytes() * uint64_t(accum_) : 0;
}

TrainingStep::Result TrainingStep::run(int64_t it, bool want_norm, const std::function<void(int64_t, int64_t)>& before_micro) {
  Result r;
  set_step(config_.seed, it);  // dropout masks are keyed by (seed, step, micro-batch, module path, call)
  r.lr = config_.LrSchedule::operator()(it);
  optimizer_->set_lr(r.lr);
  model_.train();
  const int64_t M = micro_per_step(), T = model_.block_size();
  std::vector<double> losses(size_t(M), 0.0);  // micro-batch m's loss on its rank, 0 elsewhere
  Tensor x, y;
  for (int64_t a = 0; a < accum_; ++a) {
    const int64_t m = a * cluster_.size() + cluster_.rank();
    if (before_micro) before_micro(m, M);
    cluster_.all_or_none([&] {
      set_micro_batch(m);
      training_batch(data_, config_.seed, rows_, T, it, M, m, x, y);
      Var loss = model_.loss(x, y);
      losses[size_t(m)] = loss.item();
      (M == 1 ? loss : loss * (1.0 / double(M))).backward();
    });
    if (grad_) grad_->add(cluster_, a == 0);
  }
  if (grad_) grad_->install();
  cluster_.share(losses);
  for (double l : losses) r.loss += l;
  r.loss /= double(M);
  const double clip = config_.grad_clip;
  r.grad_norm = clip > 0 || want_norm ? optim::grad_global_norm(params_) : 0.0;
  const double coefficient = clip > 0 ? optim::clip_coefficient(r.grad_norm, clip) : 1.0;
  if (before_update_) before_update_(coefficient);
  optimizer_->step(coefficient);
  optimizer_->zero_grad();
  // Every rank holds the same loss, so every rank stops here; rank 0 reports it.
  if (!std::isfinite(r.loss))
    throw ClusterError("train: loss is " + std::to_string(r.loss) + " at step " + std::to_string(it) + " (lr " +
                           std::to_string(r.lr) + ")",
                       cluster_.is_root());
  return r;
}

}  // namespace loupe::tools
