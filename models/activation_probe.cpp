#include "models/activation_probe.h"

#include <algorithm>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "tensor/allocator.h"
#include "tensor/error.h"

namespace loupe::models {

// Peak tensor bytes above what was live before, for one forward + backward at [B, T]. The
// gradients the backward leaves (counted in the training state already) are subtracted: they
// are what is still live after the graph is freed.
static double probe_once(LanguageModel& model, int64_t B, int64_t T) {
  const size_t before = storage_live_bytes();
  storage_reset_peak();
  {
    const Tensor ids = Tensor::from_ints(std::vector<int64_t>(size_t(B * T), 0), {B, T});
    const Var logits = model.forward(ids);
    const int64_t V = logits.size(-1);
    cross_entropy(reshape(logits, {-1, V}), ids.reshape({-1})).backward();
  }
  const size_t after = storage_live_bytes();
  const double peak = double(storage_peak_bytes());
  model.zero_grad();
  return std::max(0.0, peak - double(std::max(after, before)));
}

// Coefficients q0 + q1·t + q2·t² (each ≥ 0) through n ≤ 3 points (t[i], y[i]).
static void fit(int n, const int64_t* t, const double* y, double* q) {
  q[0] = q[1] = q[2] = 0;
  if (n == 1) {
    q[1] = std::max(0.0, y[0] / double(t[0]));
    return;
  }
  const double d01 = (y[1] - y[0]) / double(t[1] - t[0]);
  if (n == 3) {  // divided differences
    const double d12 = (y[2] - y[1]) / double(t[2] - t[1]);
    q[2] = std::max(0.0, (d12 - d01) / double(t[2] - t[0]));
  }
  q[1] = std::max(0.0, d01 - q[2] * double(t[0] + t[1]));
  q[0] = std::max(0.0, y[0] - q[1] * double(t[0]) - q[2] * double(t[0]) * double(t[0]));
}

ActivationEstimate probe_activations(LanguageModel& model) {
  PauseOpHooks quiet;
  ActivationEstimate e;
  // Lengths 16, 32, 48 (fewer, and shorter, when the block is shorter).
  const int64_t L = model.block_size();
  int n = 0;
  for (int64_t t : {int64_t(16), int64_t(32), int64_t(48)}) {
    const int64_t len = std::min(t, std::max<int64_t>(1, L * t / 48));
    if (n > 0 && len <= e.probe_lengths[n - 1]) continue;
    e.probe_lengths[n] = len;
    e.probe_bytes[0][n] = probe_once(model, 1, len);
    e.probe_bytes[1][n] = probe_once(model, 2, len);
    ++n;
  }
  double shared[3], per_row[3];
  for (int i = 0; i < n; ++i) {
    per_row[i] = e.probe_bytes[1][i] - e.probe_bytes[0][i];
    shared[i] = std::max(0.0, e.probe_bytes[0][i] - per_row[i]);
  }
  fit(n, e.probe_lengths, shared, e.shared);
  fit(n, e.probe_lengths, per_row, e.per_row);
  return e;
}

void check_training_memory(LanguageModel& model, int64_t batch, int64_t T, const std::string& what) {
  const double have = physical_memory_bytes();
  if (have <= 0) return;
  const ActivationEstimate e = probe_activations(model);
  const double act = e.bytes(batch, T);
  const double state = training_state_bytes(model);
  LOUPE_CHECK(state + act <= have, what, ": batch_size ", batch, " × block_size ", T, " needs about ", format_gib(act),
              " of activations per micro-batch (measured at batch 1, lengths ", e.probe_lengths[0], "..",
              std::max({e.probe_lengths[0], e.probe_lengths[1], e.probe_lengths[2]}), ") plus ", format_gib(state),
              " for weights, gradients and optimizer state; this machine has ", format_gib(have),
              ". Lower train.batch_size (raise train.grad_accum to keep the tokens per step) or model.block_size");
}

}  // namespace loupe::models
