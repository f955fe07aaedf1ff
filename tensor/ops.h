// Tensor-level operations (no gradients). Inputs may have any strides; results
// are fresh contiguous tensors unless noted. Float ops take f32 or f64 (both
// operands the same dtype); index arguments are i64 tensors.
// Implementations live in tensor/kernels/<family>.cpp, written with xsimd + OpenMP,
// and give bitwise-identical results for any thread count.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace loupe {

// ---- elementwise unary (kernels/elementwise.cpp) ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);       // exact: x * Phi(x)
Tensor gelu_tanh(const Tensor& x);  // tanh approximation (GPT-2)
Tensor silu(const Tensor& x);       // x * sigmoid(x)
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor pow(const Tensor& x, double p);

// ---- elementwise binary, NumPy broadcasting (kernels/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
// Comparisons give 1 or 0 in the inputs' dtype.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// where(cond, a, b): a where cond != 0 else b; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// In place: dst += alpha * src (src broadcast to dst's shape; dst may be strided).
void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);
// In place: dst *= s.
void mul_(Tensor& dst, double s);

// ---- reductions over any set of dims; empty dims = all dims (kernels/reduce.cpp) ----
// Fixed blocking and summation order: identical bits for any thread count.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Variance with Bessel correction `correction` (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false, int64_t correction = 1);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64; first index of the max
// Sums a broadcast gradient back down to `shape` (the backward of broadcasting).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// ---- softmax family and scans (kernels/softmax.cpp, kernels/scan.cpp) ----
Tensor softmax(const Tensor& x, int64_t dim);      // subtracts the running max
Tensor log_softmax(const Tensor& x, int64_t dim);  // x - max - log(sum(exp(x - max)))
Tensor cumsum(const Tensor& x, int64_t dim);

// ---- joining and indexing (kernels/index.cpp) ----
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);  // views
// out[..., i, ...] = x[..., index[..., i, ...], ...] along dim (index has x's rank), as torch.gather.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Selects whole slices of x along dim by a 1-D i64 index.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// Returns a copy of x with src added at index positions along dim (as torch.scatter_add).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Rows of weight [V, D] for i64 ids of any shape -> [..., D]; out-of-range ids throw.
Tensor embedding(const Tensor& weight, const Tensor& ids);

// ---- matrix products (kernels/gemm.cpp: the BLIS-style GEMM) ----
// 2-D [m,k]x[k,n]; or batched with broadcast batch dims [...,m,k]x[...,k,n]; 1-D operands as in NumPy.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- einsum (kernels/einsum.cpp) ----
// NumPy's einsum: "ij,jk->ik" (explicit output), "ij,jk" (implicit: the letters used once, in ASCII
// order), repeated letters in one operand for diagonals ("ii->i"), "..." for leading dims.
// Broadcasting as in NumPy, for letters and "...": the sizes of an index must agree or be 1, and a
// size-1 dim is read as expanded: einsum("ij,ij->j", {[10,2], [1,2]}) sums a[i,j] * b[0,j] over i
// ([2]); einsum("i,i", {[2], [1]}) is b[0] * (a[0] + a[1]). Sizes 3 against 4 throw, naming the spec,
// the index and both shapes. The contraction order is chosen as `loupe einsum --explain` shows.
Tensor einsum(const std::string& spec, const std::vector<Tensor>& operands);

}  // namespace loupe
