// Order of pairwise contractions for an einsum of many operands.
// Contracting operands a and b costs prod(size of every label in a ∪ b) multiply-adds (one batched
// GEMM) and leaves a tensor over the labels of a ∪ b still needed later (by the output or by another
// operand). Up to 4 operands every order is tried (at most 18) and the cheapest total kept; beyond that
// the choice is greedy, as opt_einsum's "greedy": at each step the pair whose result removes the most
// elements (size(result) - size(a) - size(b), smallest first), ties broken by the cheaper GEMM.
// schedule() turns the order into the steps evaluate() runs: private labels summed first, then each
// pair as one batched GEMM with its batch / rows / columns / contracted labels.
#include <algorithm>
#include <limits>

#include "tensor/kernels/einsum.h"

namespace loupe::einsum_detail {

namespace {

using LabelSet = Labels;  // sorted, distinct

LabelSet sorted_set(Labels l) {
  std::sort(l.begin(), l.end());
  l.erase(std::unique(l.begin(), l.end()), l.end());
  return l;
}

LabelSet set_union(const LabelSet& a, const LabelSet& b) {
  LabelSet r;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(r));
  return r;
}

// The labels of a ∪ b (operands i and j) still needed after contracting them.
LabelSet pair_result(const std::vector<LabelSet>& ops, size_t i, size_t j, const LabelSet& output) {
  LabelSet needed = output;
  for (size_t k = 0; k < ops.size(); ++k)
    if (k != i && k != j) needed = set_union(needed, ops[k]);
  LabelSet both = set_union(ops[i], ops[j]), r;
  std::set_intersection(both.begin(), both.end(), needed.begin(), needed.end(), std::back_inserter(r));
  return r;
}

// The list after contracting positions i < j: both removed, the result appended.
std::vector<LabelSet> after_pair(const std::vector<LabelSet>& ops, size_t i, size_t j, LabelSet result) {
  std::vector<LabelSet> next;
  for (size_t k = 0; k < ops.size(); ++k)
    if (k != i && k != j) next.push_back(ops[k]);
  next.push_back(std::move(result));
  return next;
}

struct Search {
  const LabelSet& output;
  const std::vector<int64_t>& size;
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::pair<int, int>> best_path, path;

  void run(const std::vector<LabelSet>& ops, double cost) {
    if (cost >= best) return;
    if (ops.size() == 1) {
      best = cost;
      best_path = path;
      return;
    }
    for (size_t i = 0; i < ops.size(); ++i)
      for (size_t j = i + 1; j < ops.size(); ++j) {
        const double flops = numel_of(set_union(ops[i], ops[j]), size);
        path.push_back({int(i), int(j)});
        run(after_pair(ops, i, j, pair_result(ops, i, j, output)), cost + flops);
        path.pop_back();
      }
  }
};

}  // namespace

double numel_of(const Labels& ls, const std::vector<int64_t>& size) {
  double n = 1;
  for (int l : ls) n *= double(size[size_t(l)]);
  return n;
}

std::vector<std::pair<int, int>> contraction_order(const std::vector<Labels>& operands, const Labels& output_labels,
                                                   const std::vector<int64_t>& size) {
  std::vector<LabelSet> ops;
  for (auto& o : operands) ops.push_back(sorted_set(o));
  const LabelSet output = sorted_set(output_labels);

  if (ops.size() <= 4) {
    Search s{output, size, std::numeric_limits<double>::infinity(), {}, {}};
    s.run(ops, 0);
    return s.best_path;
  }
  std::vector<std::pair<int, int>> path;
  while (ops.size() > 1) {
    size_t bi = 0, bj = 1;
    double best_removed = std::numeric_limits<double>::infinity(), best_flops = best_removed;
    LabelSet best_result;
    for (size_t i = 0; i < ops.size(); ++i)
      for (size_t j = i + 1; j < ops.size(); ++j) {
        LabelSet r = pair_result(ops, i, j, output);
        const double removed = numel_of(r, size) - numel_of(ops[i], size) - numel_of(ops[j], size);
        const double flops = numel_of(set_union(ops[i], ops[j]), size);
        if (removed < best_removed || (removed == best_removed && flops < best_flops)) {
          best_removed = removed;
          best_flops = flops;
          bi = i;
          bj = j;
          best_result = std::move(r);
        }
      }
    path.push_back({int(bi), int(bj)});
    ops = after_pair(ops, bi, bj, std::move(best_result));
  }
  return path;
}

Labels term_labels(const Labels& labels, const Shape& shape) {
  Labels r;
  for (size_t d = 0; d < labels.size(); ++d)
    if (shape[d] != 1 && std::find(r.begin(), r.end(), labels[d]) == r.end()) r.push_back(labels[d]);
  return r;
}

std::vector<Step> schedule(std::vector<Labels> terms, const Labels& output, const std::vector<int64_t>& size) {
  // Labels needed by the output or by a term other than `skip` (size_t(-1): any term).
  auto needed = [&](size_t skip) {
    std::vector<bool> n(size.size(), false);
    for (int l : output) n[size_t(l)] = true;
    for (size_t k = 0; k < terms.size(); ++k)
      if (k != skip)
        for (int l : terms[k]) n[size_t(l)] = true;
    return n;
  };
  std::vector<Step> steps;
  if (terms.size() == 1) {  // one operand: a single sum (or a permuted copy) to the output labels
    Step st;
    for (int l : terms[0]) (has_label(output, l) ? st.left : st.contracted).push_back(l);
    return {st};
  }
  for (size_t k = 0; k < terms.size(); ++k) {  // private labels first
    const std::vector<bool> n = needed(k);
    Step st;
    st.i = int(k);
    for (int l : terms[k]) (n[size_t(l)] ? st.left : st.contracted).push_back(l);
    if (st.contracted.empty()) continue;
    terms[k] = st.left;
    steps.push_back(st);
  }
  for (auto [i, j] : contraction_order(terms, output, size)) {
    const Labels a = terms[size_t(i)], b = terms[size_t(j)];
    terms.erase(terms.begin() + j);
    terms.erase(terms.begin() + i);
    const std::vector<bool> n = needed(size_t(-1));
    Step st;
    st.i = i;
    st.j = j;
    for (int l : a) (has_label(b, l) ? (n[size_t(l)] ? st.batch : st.contracted) : st.left).push_back(l);
    for (int l : b)
      if (!has_label(a, l)) st.right.push_back(l);
    Labels result = st.batch;
    result.insert(result.end(), st.left.begin(), st.left.end());
    result.insert(result.end(), st.right.begin(), st.right.end());
    terms.push_back(result);
    steps.push_back(st);
  }
  return steps;
}

}  // namespace loupe::einsum_detail
