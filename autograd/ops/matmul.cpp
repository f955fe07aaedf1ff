// matmul on Vars. C = A B  =>  dA = dC Bᵀ, dB = Aᵀ dC.
// The transposes are stride-swapped views read directly by the GEMM's packing (no copies),
// and an operand that was broadcast over batch dims gets the sum of its per-batch gradients
// (matmul_sum_to folds that sum into the GEMM's K dimension when the strides allow).
#include "autograd/ops.h"
#include "tensor/kernels/matmul.h"

namespace loupe {

LOUPE_REGISTER_OP("matmul");
Var matmul(const Var& a, const Var& b) {
  Tensor av = a.value(), bv = b.value();
  Tensor out = matmul(av, bv);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_result("matmul", out, {a, b}, [av, bv, need_a, need_b](const Tensor& g) {
    // Work on the >= 2-D forms (1-D a is a row [1, k], 1-D b a column [k, 1]), as the forward did.
    const Tensor a2 = av.dim() == 1 ? av.unsqueeze(0) : av;
    const Tensor b2 = bv.dim() == 1 ? bv.unsqueeze(1) : bv;
    Shape gshape = broadcast_shapes(Shape(a2.shape().begin(), a2.shape().end() - 2),
                                    Shape(b2.shape().begin(), b2.shape().end() - 2), "matmul backward");
    gshape.push_back(a2.size(-2));
    gshape.push_back(b2.size(-1));
    const Tensor g2 = g.reshape(gshape);
    std::vector<Tensor> grads(2);
    if (need_a)  // dA = dC · Bᵀ, summed over the batch dims A was broadcast along
      grads[0] = kernels::matmul_sum_to(g2, b2.transpose(-1, -2), a2.shape(), "matmul backward").view(av.shape());
    if (need_b && bv.dim() == 2 && bv.size(0) > 1 && bv.size(1) > 1 && bv.transpose(0, 1).is_contiguous()) {
      // B is a transposed view of a row-major matrix (a Linear's Wᵀ): compute dBᵀ = dCᵀ · A in
      // that matrix's own layout and hand back its transposed view, so W's gradient arrives
      // contiguous instead of being copied through a transpose. Every element is the same sum
      // of the same products in the same order, so the values are bitwise those of Aᵀ · dC.
      grads[1] = kernels::matmul_sum_to(g2.transpose(-1, -2), a2, {b2.size(1), b2.size(0)}, "matmul backward")
                     .transpose(0, 1);
    } else if (need_b) {  // dB = Aᵀ · dC
      grads[1] = kernels::matmul_sum_to(a2.transpose(-1, -2), g2, b2.shape(), "matmul backward").view(bv.shape());
    }
    return grads;
  });
}

}  // namespace loupe
