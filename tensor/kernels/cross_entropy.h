// Fused softmax cross-entropy over rows of logits [N, V] with i64 targets [N]:
//   loss = mean over counted rows i of (logsumexp(x_i) - x_i[t_i]),
// where a row is counted unless t_i == ignore_index. Forward keeps each row's
// logsumexp so the backward is one closed-form pass:
//   dx_i = scale * (softmax(x_i) - onehot(t_i)),  scale = dloss / count,
// and zero for ignored rows. With no counted row the loss and gradient are 0
// (PyTorch gives NaN; a batch of padding should not poison training).
// Textbook twin (plain f64 loops, selected by reference mode): tensor/reference/cross_entropy.h.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe {

struct CrossEntropyForward {
  Tensor loss;    // 0-d, logits' dtype
  Tensor logits;  // the logits made contiguous (kept for the backward)
  Tensor lse;     // [N] per-row logsumexp, logits' dtype
  int64_t count = 0;  // rows not ignored
};

// Errors name the shapes, dtypes and the first out-of-range target.
void check_cross_entropy_inputs(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
// Every target is ignore_index or in [0, V); the error names `op`, the target and its row.
void check_targets_in_range(const char* op, const Tensor& targets, int64_t V, int64_t ignore_index);

CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index);

// The gradient w.r.t. logits, given the forward's saved values and dloss (a scalar).
Tensor cross_entropy_backward(const CrossEntropyForward& fwd, const Tensor& targets, int64_t ignore_index,
                              double dloss);

}  // namespace loupe
