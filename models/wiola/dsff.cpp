// (iv) Dual-Stream Feed-Forward: y = σ(γ) ⊙ A(u) + (1 − σ(γ)) ⊙ B(u), computed as B + σ(γ) ⊙ (A − B).
//   release widths:  A = W2a GELU(W1a u) (width d),  B = W2b GELU(W1b u) (width 4d)
//   balanced widths: A of width 2d,  B = W2b (SiLU(W1b u) ⊙ W3b u) (width 4d/3)
// The module (modules.h: Dsff) holds gelu_up/gelu_down (A) and w1/w2[/w3] (B) and the gate γ.
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/wiola.h"
#include "nn/linear.h"

namespace loupe::models {

using nn::linear;

Var dual_stream_ff(const Var& u, const Var& w1a, const Var& w2a, const Var& w1b, const Var& w2b, const Var& w3b,
                   const Var& gamma) {
  const Var a = linear(gelu(linear(u, w1a)), w2a);
  Var hb = linear(u, w1b);
  if (w3b.defined()) {
    hb = silu(hb);
    hb = hb * linear(u, w3b);
  } else {
    hb = gelu(hb);
  }
  const Var b = linear(hb, w2b);
  return b + sigmoid(gamma) * (a - b);  // = σ(γ) A + (1 − σ(γ)) B
}

}  // namespace loupe::models
