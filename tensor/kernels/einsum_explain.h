// What an einsum costs, step by step, without running it (`loupe einsum --explain`): the schedule
// evaluate() follows (einsum.h), each pairwise step as a batched GEMM with its sizes, the
// intermediate shapes, FLOPs and bytes, the naive single-loop-nest cost, and the cheapest pairwise
// order found by an exhaustive search over every contraction tree, to show when the planner's
// greedy order (used beyond 4 operands) loses.
//
// Cost model: a contraction C[b,m,n] = sum_k A[b,m,k] B[b,k,n] is 2·b·m·n·k FLOPs (a multiply and an
// add per term; an outer product is k = 1) and moves b·(m·k + k·n + m·n) elements; a sum of m·k
// elements to m is m·k FLOPs. The naive evaluation loops once over every assignment of every index:
// prod(sizes) iterations of (operands − 1) multiplies and one add. Bytes assume the operands' layouts
// nest (a layout that does not becomes one extra copy at run time).
#pragma once
#include <string>
#include <vector>

#include "tensor/kernels/einsum.h"

namespace loupe::einsum_detail {

struct ExplainedStep {
  std::string kind;          // "sum", "copy", "gemm", "dot" (m = n = 1), "outer" (k = 1); "batched " prefix if b > 1
  int a = -1, b = -1;        // ids of what it reads: operands 0..n-1, then intermediates n, n+1, ... (b = -1: one input)
  int result = -1;           // id of what it makes
  Labels a_labels, b_labels, result_labels;
  Shape result_shape;
  int64_t batch = 1, m = 1, n = 1, k = 1;
  double flops = 0, bytes = 0;
};

struct Explanation {
  Problem problem;
  std::vector<Shape> shapes;
  Shape output_shape;
  std::vector<ExplainedStep> steps;
  double flops = 0, bytes = 0, naive_flops = 0;
  std::string planner;            // "exhaustive" (<= 4 operands) or "greedy"
  std::string tree;  // the chosen order as a nested product of operand ids, e.g. ((#0 * #1) * #2)
  // The cheapest order over every contraction tree (the same cost model), for <= kMaxBestOperands.
  bool best_known = false;
  double best_flops = 0;  // total, with the same sums of private labels as the chosen order
  std::string best_tree;
};

constexpr size_t kMaxBestOperands = 8;

Explanation explain(const std::string& spec, const std::vector<Shape>& shapes, int64_t element_bytes);

// Labels as subscripts: letters as written, the dims of '...' as digits 0, 1, ... (left to right).
std::string subscripts(const Labels& labels);

}  // namespace loupe::einsum_detail
