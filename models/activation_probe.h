// How much memory one training micro-batch's activations take, measured before training starts:
// a few small forward + backward passes (batch 1 and 2, three short lengths) count the tensor
// storage the graph really holds (tensor/allocator.h's peak), and quadratics in the sequence
// length through those points extrapolate to the run's batch × block. Quadratic because an
// attention that keeps its T × T scores grows with T², everything else with T; linear in the
// batch, with a part that does not grow with it. The passes run with op hooks paused (no trace
// records, no event ids used), in the model's current train/eval mode, and leave no gradients.
#pragma once
#include <cstdint>
#include <string>

#include "models/model.h"

namespace loupe::models {

struct ActivationEstimate {
  // Bytes at batch B and length T: shared(T) + B · per_row(T), each a quadratic q0 + q1·T + q2·T²
  // with q ≥ 0. The shared part does not grow with the batch (e.g. tables made per length).
  double shared[3] = {0, 0, 0}, per_row[3] = {0, 0, 0};
  int64_t probe_lengths[3] = {0, 0, 0};  // the lengths probed (0: unused)
  double probe_bytes[2][3] = {};         // measured peak above the weights, at batch 1 and 2
  double bytes(int64_t batch, int64_t T) const {
    const double t = double(T);
    const auto q = [t](const double* c) { return c[0] + c[1] * t + c[2] * t * t; };
    return q(shared) + double(batch) * q(per_row);
  }
};

// Probes `model` (not changed: its gradients are dropped again, its weights untouched).
ActivationEstimate probe_activations(LanguageModel& model);

// Refuses (an Error naming train.batch_size and the block size, with the bytes) a run whose
// weights, gradients, optimizer state and one micro-batch's activations exceed this machine's
// memory. `what` prefixes the message (e.g. "train").
void check_training_memory(LanguageModel& model, int64_t batch, int64_t T, const std::string& what);

}  // namespace loupe::models
