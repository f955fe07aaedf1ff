// einsum internals, shared by the Tensor op (kernels/einsum.cpp) and its
// gradient (autograd/ops/einsum.cpp).
//
//   out[o...] = sum over every label not in the output of  prod_k  operand_k[labels_k...]
//
// Three steps, one file each:
//   einsum_parse.cpp  subscripts -> integer labels per dim, the output labels, the size of every label;
//   einsum_plan.cpp   the order in which to contract operands pairwise (exhaustive for <= 4, else greedy);
//   einsum.cpp        execution: diagonals as strided views, sums of private labels, and each pair
//                     lowered to permute + merge dims + one batched GEMM.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace loupe::einsum_detail {

// Labels are small integers: 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51, so sorting labels sorts their
// letters in ASCII order (NumPy's order for an implicit output). The dims covered by '...' get
// labels kEllipsis + j, j = 0..E-1, right-aligned across operands as in broadcasting. Every label
// broadcasts as in NumPy: a size-1 dim of an operand against size n elsewhere reads that operand as
// expanded (stride 0) along it; within one operand a repeated label needs equal sizes.
constexpr int kEllipsis = 52;
using Labels = std::vector<int>;

inline bool is_ellipsis_label(int l) { return l >= kEllipsis; }
inline bool has_label(const Labels& ls, int l) { return std::find(ls.begin(), ls.end(), l) != ls.end(); }
double numel_of(const Labels& ls, const std::vector<int64_t>& size);  // prod of the labels' sizes
std::string label_name(int label);  // "i", or "...[0]" for the first ellipsis dim

struct Problem {
  std::string spec;            // as given, for error messages
  std::vector<Labels> inputs;  // one label per dim of each operand; repeats allowed (diagonals)
  Labels output;               // distinct labels, in output dim order
  std::vector<int64_t> size;   // size[label] after broadcasting; 1 for labels no operand uses
};

// Parses `spec` against the operand shapes; throws loupe::Error naming the spec and the problem.
Problem parse(const std::string& spec, const std::vector<Shape>& shapes);

// Pairwise contraction order for operands whose labels are distinct within each operand.
// Step s contracts positions (i, j), i < j, of the current list: both are removed and the result is
// appended at the end (opt_einsum's convention). Cost model: multiply-adds of each pairwise GEMM.
std::vector<std::pair<int, int>> contraction_order(const std::vector<Labels>& operands, const Labels& output,
                                                   const std::vector<int64_t>& size);

// ---- the schedule: what evaluate() does, worked out from labels and sizes alone ----
// An operand as evaluate() sees it: its distinct labels of size > 1, in order of first appearance
// (a repeated label is one diagonal dim; a size-1 dim holds one value, so a broadcast operand simply
// lacks that label).
Labels term_labels(const Labels& labels, const Shape& shape);

// One step. j < 0: a sum of term i over `contracted`, keeping `left` (labels only it has that nothing
// later needs; or, for a single operand, the whole einsum). Else the contraction of positions i < j
// of the current list, the result appended (opt_einsum's convention), as one batched GEMM
//   C[batch, left, right] = sum over contracted of A[batch, left, contracted] * B[batch, contracted, right].
struct Step {
  int i = 0, j = -1;
  Labels batch, left, right, contracted;
};
std::vector<Step> schedule(std::vector<Labels> terms, const Labels& output, const std::vector<int64_t>& size);

// Evaluates the einsum over already parsed labels. Output labels that no operand provides at full size
// are broadcast. Used by einsum() and by the gradient (whose specs are built from labels, not text).
Tensor evaluate(const std::vector<Tensor>& operands, const std::vector<Labels>& labels, const Labels& output,
                const std::vector<int64_t>& size, const std::string& spec);

}  // namespace loupe::einsum_detail
