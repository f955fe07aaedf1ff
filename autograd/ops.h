// Differentiable ops on Vars. Each op's forward and backward live together in
// autograd/ops/<family>.cpp, and each registers its name (LOUPE_REGISTER_OP) so
// tests can prove that every op has a gradcheck case.
#pragma once
#include <string>
#include <vector>

#include "autograd/var.h"
#include "tensor/ops.h"

namespace loupe {

// ---- elementwise (ops/elementwise.cpp) ----
Var neg(const Var& x);
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var rsqrt(const Var& x);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);
Var gelu(const Var& x);
Var gelu_tanh(const Var& x);
Var silu(const Var& x);
Var sin(const Var& x);
Var cos(const Var& x);
Var abs(const Var& x);
Var pow(const Var& x, double p);
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var maximum(const Var& a, const Var& b);
Var minimum(const Var& a, const Var& b);
Var add(const Var& a, double s);
Var mul(const Var& a, double s);
Var where(const Tensor& cond, const Var& a, const Var& b);
Var cast(const Var& x, DType dtype);
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& a) { return neg(a); }
inline Var operator+(const Var& a, double s) { return add(a, s); }
inline Var operator-(const Var& a, double s) { return add(a, -s); }
inline Var operator*(const Var& a, double s) { return mul(a, s); }
inline Var operator/(const Var& a, double s) { return mul(a, 1.0 / s); }
inline Var operator*(double s, const Var& a) { return mul(a, s); }
inline Var operator+(double s, const Var& a) { return add(a, s); }

// ---- reductions (ops/reduce.cpp) ----
Var sum(const Var& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Var mean(const Var& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Var amax(const Var& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);  // grad split among ties
Var amin(const Var& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Var var(const Var& x, const std::vector<int64_t>& dims = {}, bool keepdim = false, int64_t correction = 1);

// ---- views (ops/view.cpp): backward maps gradients back through the view ----
Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const std::vector<int64_t>& dims);
Var transpose(const Var& x, int64_t d0, int64_t d1);
Var narrow(const Var& x, int64_t dim, int64_t start, int64_t length);
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Var select(const Var& x, int64_t dim, int64_t index);
Var expand(const Var& x, const Shape& shape);
Var squeeze(const Var& x, int64_t dim);
Var unsqueeze(const Var& x, int64_t dim);
Var contiguous(const Var& x);

// ---- softmax family, scans (ops/softmax.cpp, ops/scan.cpp) ----
Var softmax(const Var& x, int64_t dim);
Var log_softmax(const Var& x, int64_t dim);
Var cumsum(const Var& x, int64_t dim);  // backward: reverse cumsum

// ---- joining and indexing (ops/index.cpp) ----
Var concat(const std::vector<Var>& xs, int64_t dim);
Var stack(const std::vector<Var>& xs, int64_t dim);
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t dim);
Var gather(const Var& x, int64_t dim, const Tensor& index);        // backward: scatter-add
Var index_select(const Var& x, int64_t dim, const Tensor& index);  // backward: index-add
Var scatter_add(const Var& x, int64_t dim, const Tensor& index, const Var& src);
Var embedding(const Var& weight, const Tensor& ids);

// ---- losses (ops/loss.cpp) ----
// Mean softmax cross-entropy of logits [N, V] against i64 targets [N]; targets equal to
// ignore_index are skipped (and excluded from the mean). Fused: one pass forward, closed-form backward.
Var cross_entropy(const Var& logits, const Tensor& targets, int64_t ignore_index = -1);
// The LM head and its cross-entropy in one op, chunked (tensor/kernels/linear_cross_entropy.h):
// cross_entropy(h · Wᵀ, targets) for h [N, C], W [V, C], without holding the [N, V] logits.
Var linear_cross_entropy(const Var& h, const Var& w, const Tensor& targets, int64_t ignore_index = -1);

// ---- matrix products (ops/matmul.cpp): backward dA = dC Bᵀ, dB = Aᵀ dC via GEMM transpose flags ----
Var matmul(const Var& a, const Var& b);

// ---- einsum (ops/einsum.cpp): the gradient of each operand is itself an einsum ----
// Same grammar and broadcasting as the Tensor einsum (tensor/ops.h). An operand whose dim was
// broadcast (size 1 against n) gets its gradient summed over that dim, keeping it (size 1): for
// einsum("ij,ij->j", {a [10,2], b [1,2]}), db[0,j] = sum_i g[j] a[i,j], as broadcasting in add does.
Var einsum(const std::string& spec, const std::vector<Var>& operands);

}  // namespace loupe
