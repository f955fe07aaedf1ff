// Textbook turn of interleaved pairs (twin of the pair turn in autograd/ops/rope.cpp, behind
// rope and rotate_pairs): x [B, T, H, D], angles c = cos, s = sin [T, H, D/2];
//   y[2i] = x[2i] c_i − x[2i+1] s_i,   y[2i+1] = x[2i] s_i + x[2i+1] c_i
// backward (a rotation's inverse is its transpose), g = dy:
//   dx[2i] = g[2i] c_i + g[2i+1] s_i,   dx[2i+1] = g[2i+1] c_i − g[2i] s_i
//   dc_i = Σ_b g[2i] x[2i] + g[2i+1] x[2i+1],   ds_i = Σ_b g[2i+1] x[2i] − g[2i] x[2i+1]
#pragma once
#include "tensor/tensor.h"

namespace loupe::reference {

Tensor rotate_pairs_forward(const Tensor& x, const Tensor& cos, const Tensor& sin);
struct RotateGrads {
  Tensor dx, dcos, dsin;
};
RotateGrads rotate_pairs_backward(const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& g);

}  // namespace loupe::reference
