// Model FLOPs, counted from the ops a forward pass runs (op hooks), for `loupe summary` and the
// training MFU of `loupe bench train`. Matmuls and attention only (a multiply-add counts 2):
// they are nearly all of a transformer's arithmetic; elementwise work, norms and einsum are not
// counted, so MFU is, as usual, an under-count of the work done.
#pragma once
#include <cstdint>

#include "autograd/var.h"
#include "models/model.h"

namespace loupe::tools {

// Forward FLOPs of one op event (0 for ops not counted).
double op_flops(const OpEvent& ev);

// Forward FLOPs per token of `model` on one sequence of its full block size (a forward pass
// without gradients, watched through an op hook; the model is left as it was).
double forward_flops_per_token(models::LanguageModel& model);

}  // namespace loupe::tools
