// The LM head and its cross-entropy, fused and chunked: the loss of logits = h · Wᵀ against
// targets, for h [N, C], W [V, C], targets i64 [N], without ever holding the [N, V] logits
// (for a 50,257-token vocabulary and 32 × 256 rows they are 1.6 GB in f32, and their gradient
// as much again):
//   for each chunk of R consecutive rows (R · V ≤ kLinearCeChunk elements; R depends only on V):
//       Z = h_c · Wᵀ                                  one GEMM, [R, V]
//       lse_i = logsumexp(Z_i),  loss += lse_i − Z_i[t_i]      (counted rows, summed in row order)
//       G = softmax(Z) − onehot(t)  in place of Z     (0 for ignored rows)
//       dh_c = G · W,   dW += Gᵀ · h_c                two GEMMs, the chunks folded in order
//   loss = Σ / count
// The gradient is made in the forward, unscaled (the loss is a scalar: the backward multiplies
// dh and dW by dloss / count), so the head costs the same three GEMMs as unfused. Every sum has
// an order fixed by N, V and C, so the result is bitwise the same for any thread count. With no
// counted row the loss and the gradients are 0 (as cross_entropy.h).
// Textbook twin (selected by reference mode): tensor/reference/linear_cross_entropy.h, the unfused
// maths — the whole logits, the textbook cross-entropy, two GEMMs.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe {

// Logits per chunk: 128 MB in f32 (667 rows of a 50,257-token vocabulary). Smaller chunks pass
// over W and dW more often (each chunk reads W twice, and reads and writes dW); 2^26 measured the
// same speed on gpt-shakespeare-bpe within the noise, holding 128 MB more (docs/performance.md).
inline constexpr int64_t kLinearCeChunk = int64_t(1) << 25;

struct LinearCrossEntropy {
  Tensor loss;        // 0-d, h's dtype
  Tensor dh, dw;      // Σ over counted rows of ∂loss_i/∂h and ∂loss_i/∂W; undefined unless asked
  int64_t count = 0;  // rows not ignored
};

// Errors name the shapes, dtypes and the first out-of-range target.
void check_linear_cross_entropy_inputs(const Tensor& h, const Tensor& w, const Tensor& targets, int64_t ignore_index);
// `chunk`: logits per chunk (tests make it small to cut a few rows into several chunks).
LinearCrossEntropy linear_cross_entropy_forward(const Tensor& h, const Tensor& w, const Tensor& targets,
                                                int64_t ignore_index, bool grad_h, bool grad_w,
                                                int64_t chunk = kLinearCeChunk);

}  // namespace loupe
