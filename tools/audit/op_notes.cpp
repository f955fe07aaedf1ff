#include "tools/audit/op_notes.h"

#include <map>

namespace loupe::tools {

namespace {

constexpr const char* kElem = "autograd/ops/elementwise.cpp";
constexpr const char* kView = "autograd/ops/view.cpp";
constexpr const char* kIndex = "autograd/ops/index.cpp";
constexpr const char* kReduce = "autograd/ops/reduce.cpp";

// The elementwise ops (autograd/ops/elementwise.cpp).
const std::map<std::string, OpNote>& elementwise_notes() {
  static const std::map<std::string, OpNote> m = {
      {"abs", {"y = |x|", "dx = sign(x) · dy", kElem, ""}},
      {"add", {"y = a + b (broadcast)", "da = dy, db = dy (summed over broadcast dims)", kElem, ""}},
      {"add_scalar", {"y = x + c", "dx = dy", kElem, ""}},
      {"cast", {"y = x in another dtype", "dx = dy cast back", kElem, ""}},
      {"causal_attention",
       {"y = softmax(q kᵀ / √d + causal mask) v, per head (grouped-query heads share k, v)",
        "P = softmax(..); dv = Pᵀ dy; dP = dy vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dq = dS k / √d; dk = dSᵀ q / √d",
        "autograd/ops/attention.cpp", "tensor/reference/attention.h"}},
      {"cos", {"y = cos x", "dx = −sin x · dy", kElem, ""}},
      {"cross_entropy",
       {"L = mean over rows of (logsumexp(z) − z_target)", "dz = (softmax(z) − onehot(target)) · dL / rows",
        "autograd/ops/loss.cpp", "tensor/reference/cross_entropy.h"}},
      {"div", {"y = a / b", "da = dy / b, db = −dy · a / b²", kElem, ""}},
      {"exp", {"y = eˣ", "dx = y · dy", kElem, ""}},
      {"gelu", {"y = x · Φ(x)  (Φ: the normal CDF)", "dx = (Φ(x) + x · φ(x)) · dy", kElem, ""}},
      {"gelu_tanh", {"y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))", "dx = dy · the derivative of that curve", kElem, ""}},
      {"log", {"y = ln x", "dx = dy / x", kElem, ""}},
      {"maximum", {"y = max(a, b)", "the larger operand takes dy (ties: half each)", kElem, ""}},
      {"minimum", {"y = min(a, b)", "the smaller operand takes dy (ties: half each)", kElem, ""}},
      {"mul", {"y = a · b", "da = dy · b, db = dy · a", kElem, ""}},
      {"mul_scalar", {"y = c · x", "dx = c · dy", kElem, ""}},
      {"neg", {"y = −x", "dx = −dy", kElem, ""}},
      {"pow", {"y = xᵖ", "dx = p · xᵖ⁻¹ · dy", kElem, ""}},
      {"relu", {"y = max(x, 0)", "dx = dy where x > 0, else 0", kElem, ""}},
      {"rsqrt", {"y = 1/√x", "dx = −½ y³ · dy", kElem, ""}},
      {"sigmoid", {"y = 1 / (1 + e⁻ˣ)", "dx = y (1 − y) · dy", kElem, ""}},
      {"silu", {"y = x · σ(x)", "dx = σ(x)(1 + x(1 − σ(x))) · dy", kElem, ""}},
      {"sin", {"y = sin x", "dx = cos x · dy", kElem, ""}},
      {"sqrt", {"y = √x", "dx = dy / (2y)", kElem, ""}},
      {"sub", {"y = a − b (broadcast)", "da = dy, db = −dy", kElem, ""}},
      {"tanh", {"y = tanh x", "dx = (1 − y²) · dy", kElem, ""}},
      {"where", {"y = cond ? a : b", "da = dy where cond, db = dy elsewhere", kElem, ""}},
  };
  return m;
}

// Views and indexing: ops that move elements without computing new ones.
const std::map<std::string, OpNote>& shape_notes() {
  static const std::map<std::string, OpNote> m = {
      {"concat", {"y = [x₁, x₂, ...] along dim", "dxᵢ = the slice of dy that xᵢ filled", kIndex, ""}},
      {"contiguous", {"y = x, laid out in row-major order", "dx = dy", kView, ""}},
      {"embedding", {"y[b, t] = W[ids[b, t]]", "dW[v] = Σ over positions with ids = v of dy", kIndex, ""}},
      {"expand", {"y = x broadcast to a larger shape (stride 0)", "dx = dy summed over the expanded dims", kView, ""}},
      {"gather", {"y_i = x[index_i] along dim", "dx[index_i] += dy_i", kIndex, ""}},
      {"index_select", {"y = x[index] along dim", "dx[index_i] += dy_i", kIndex, ""}},
      {"layer_norm",
       {"y = (x − mean(x)) / √(var(x) + ε) · w + b, over the last dim",
        "x̂ = normalised x; dw = Σ dy ⊙ x̂; db = Σ dy; dx = (w dy − mean(w dy) − x̂ · mean(w dy ⊙ x̂)) / √(var + ε)",
        "autograd/ops/norm.cpp", "tensor/reference/norm.h"}},
      {"narrow", {"y = x[start : start + length] along dim (a view)", "dx = dy in that range, 0 elsewhere", kView, ""}},
      {"permute", {"y = x with its dims reordered (a view)", "dx = dy with the inverse order", kView, ""}},
      {"reshape", {"y = x with another shape, same elements in order", "dx = dy reshaped back", kView, ""}},
      {"scatter_add", {"y = x; y[index_i] += src_i along dim", "dx = dy; dsrc_i = dy[index_i]", kIndex, ""}},
      {"select", {"y = x[i] along dim (a view, the dim removed)", "dx = dy at i, 0 elsewhere", kView, ""}},
      {"slice", {"y = x[start : end : step] along dim (a view)", "dx = dy at those places, 0 elsewhere", kView, ""}},
      {"split", {"[y₁, y₂, ...] = consecutive pieces of x along dim (views)", "dx = [dy₁, dy₂, ...] joined", kIndex, ""}},
      {"squeeze", {"y = x without a dim of size 1 (a view)", "dx = dy with it back", kView, ""}},
      {"stack", {"y = [x₁, x₂, ...] along a new dim", "dxᵢ = dy[i]", kIndex, ""}},
      {"transpose", {"y = x with two dims swapped (a view)", "dx = dy swapped back", kView, ""}},
      {"unsqueeze", {"y = x with a new dim of size 1 (a view)", "dx = dy without it", kView, ""}},
  };
  return m;
}

// Reductions, the fused layers and the loss (each with its textbook twin where it has one).
const std::map<std::string, OpNote>& computing_notes() {
  static const std::map<std::string, OpNote> m = {
      {"amax", {"y = max_i x_i along dim", "dx_i = dy where x_i is the max (shared among ties)", kReduce, ""}},
      {"amin", {"y = min_i x_i along dim", "dx_i = dy where x_i is the min (shared among ties)", kReduce, ""}},
      {"cumsum", {"y_i = Σ_{j≤i} x_j along dim", "dx_i = Σ_{j≥i} dy_j", "autograd/ops/scan.cpp", ""}},
      {"dropout", {"y = x · m / (1 − p), m ~ Bernoulli(1 − p) keyed by (seed, step, module, call)",
                   "dx = dy · m / (1 − p)", "autograd/ops/dropout.cpp", ""}},
      {"einsum", {"y = Σ over the summed indices of the product of the operands (docs/einsum.md)",
                  "each operand's gradient is the einsum of dy with the other operands", "autograd/ops/einsum.cpp",
                  "tensor/reference/gemm.h"}},
      {"elita_attention", {"ELiTA's Attention2: a masked softmax attention over the tokens (docs/models/elita.md)",
                           "through the O(n²) masked softmax it equals", "autograd/ops/elita_attention.cpp",
                           "tensor/reference/elita_attention.h"}},
      {"linear_cross_entropy",
       {"L = mean over rows of (logsumexp(h Wᵀ) − (h Wᵀ)_target), the logits made and used a chunk of rows at a time",
        "G = softmax(h Wᵀ) − onehot(target), per chunk; dh = G W · dL/rows; dW = Σ_chunks Gᵀ h · dL/rows",
        "autograd/ops/loss.cpp", "tensor/reference/linear_cross_entropy.h"}},
      {"log_softmax", {"y = x − logsumexp(x) along dim", "dx = dy − softmax(x) · Σ dy", "autograd/ops/softmax.cpp",
                       "tensor/reference/softmax.h"}},
      {"matmul", {"y = a b (batched over leading dims)", "da = dy bᵀ, db = aᵀ dy", "autograd/ops/matmul.cpp",
                  "tensor/reference/gemm.h"}},
      {"mean", {"y = Σ x / n along dims", "dx = dy / n", kReduce, ""}},
      {"rms_norm", {"y = x / √(mean(x²) + ε) · w, over the last dim",
                    "r = 1/√(mean(x²) + ε); dw = Σ dy ⊙ x r; dx = r (w dy − x r² mean(w dy ⊙ x))",
                    "autograd/ops/norm.cpp", "tensor/reference/norm.h"}},
      {"rope", {"rotary position embedding: each pair (x₂ᵢ, x₂ᵢ₊₁) at position t turned by the angle t · θᵢ",
                "dx = dy turned back by −t · θᵢ", "autograd/ops/rope.cpp", "tensor/reference/rotate_pairs.h"}},
      {"rotate_pairs", {"each pair (x₂ᵢ, x₂ᵢ₊₁) turned by its own angle (cos, sin given)",
                        "dx = dy turned back; dcos, dsin from the products", "autograd/ops/rope.cpp",
                        "tensor/reference/rotate_pairs.h"}},
      {"softmax", {"y = eˣ / Σ eˣ along dim", "dx = y ⊙ (dy − Σ dy ⊙ y)", "autograd/ops/softmax.cpp",
                   "tensor/reference/softmax.h"}},
      {"sum", {"y = Σ x along dims", "dx = dy broadcast back", kReduce, ""}},
      {"var", {"y = Σ (x − mean)² / (n − correction) along dims", "dx = 2 (x − mean) / (n − correction) · dy", kReduce, ""}},
  };
  return m;
}

// The optimizer's update of one parameter (not ops: no gradient flows through them).
const std::map<std::string, OpNote>& optimizer_notes() {
  static const std::map<std::string, OpNote> m = {
      {"adamw", {"w ← w(1 − lr·λ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)",
                 "g = c · ∂L/∂w, c the clip coefficient min(1, grad_clip / ‖∂L/∂θ‖)", "optim/adam.cpp", ""}},
      {"adam", {"g ← g + λw; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)",
                "g = c · ∂L/∂w, c the clip coefficient min(1, grad_clip / ‖∂L/∂θ‖)", "optim/adam.cpp", ""}},
      {"sgd", {"g ← g + λw; b ← μb + g; w ← w − lr · (nesterov ? g + μb : b)",
               "g = c · ∂L/∂w, c the clip coefficient min(1, grad_clip / ‖∂L/∂θ‖)", "optim/sgd.cpp", ""}},
  };
  return m;
}

const std::map<std::string, OpNote>& notes() {
  static const std::map<std::string, OpNote> all = [] {
    std::map<std::string, OpNote> m;
    for (auto* part : {&elementwise_notes(), &shape_notes(), &computing_notes(), &optimizer_notes()})
      m.insert(part->begin(), part->end());
    return m;
  }();
  return all;
}

}  // namespace

const OpNote* op_note(const std::string& op) {
  const auto it = notes().find(op);
  return it == notes().end() ? nullptr : &it->second;
}

nlohmann::json op_notes_json() {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [op, n] : notes())
    j[op] = {{"forward", n.forward}, {"backward", n.backward}, {"source", n.source}, {"twin", n.twin}};
  return j;
}

}  // namespace loupe::tools
