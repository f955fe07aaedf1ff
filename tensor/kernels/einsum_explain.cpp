// loupe einsum --explain: the schedule of einsum.h with sizes and costs (see einsum_explain.h).
#include "tensor/kernels/einsum_explain.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace loupe::einsum_detail {

std::string subscripts(const Labels& labels) {
  std::string s;
  for (int l : labels) {
    if (!is_ellipsis_label(l)) s += label_name(l);
    else if (l - kEllipsis < 10) s += char('0' + (l - kEllipsis));
    else s.append("(").append(std::to_string(l - kEllipsis)).append(")");  // not "(" + string&&: GCC 12, bug 105651
  }
  return s;
}

namespace {

Labels unite(const Labels& a, const Labels& b) {
  Labels r = a;
  for (int l : b)
    if (!has_label(r, l)) r.push_back(l);
  return r;
}

// The cheapest contraction tree over `terms` (distinct labels each) by dynamic programming over subsets:
// cost(S) = min over splits S = S1 + S2 of cost(S1) + cost(S2) + 2 · numel(labels(S1) ∪ labels(S2)),
// where labels(S) are the labels of S's terms still needed by the output or by a term outside S.
std::pair<double, std::string> best_tree(const std::vector<Labels>& terms, const std::vector<std::string>& leaf,
                                         const Labels& output, const std::vector<int64_t>& size) {
  const size_t n = terms.size(), full = (size_t(1) << n) - 1;
  std::vector<Labels> labels(full + 1);
  for (size_t s = 1; s <= full; ++s) {
    Labels inside, outside = output;
    for (size_t k = 0; k < n; ++k) {
      Labels& side = (s >> k) & 1 ? inside : outside;
      side = unite(side, terms[k]);
    }
    for (int l : inside)
      if (has_label(outside, l)) labels[s].push_back(l);
  }
  std::vector<double> cost(full + 1, std::numeric_limits<double>::infinity());
  std::vector<size_t> split(full + 1, 0);
  for (size_t s = 1; s <= full; ++s) {
    if ((s & (s - 1)) == 0) {
      cost[s] = 0;
      continue;
    }
    const size_t low = s & (~s + 1);
    for (size_t a = (s - 1) & s; a > 0; a = (a - 1) & s) {  // every proper subset holding the lowest bit
      if (!(a & low)) continue;
      const size_t b = s ^ a;
      const double c = cost[a] + cost[b] + 2 * numel_of(unite(labels[a], labels[b]), size);
      if (c < cost[s]) {
        cost[s] = c;
        split[s] = a;
      }
    }
  }
  std::function<std::string(size_t)> tree = [&](size_t s) -> std::string {
    if ((s & (s - 1)) == 0) {
      size_t k = 0;
      while (!((s >> k) & 1)) ++k;
      return leaf[k];
    }
    std::string out = "(";  // not "(" + string&&: GCC 12 warns falsely there (-Wrestrict, bug 105651)
    return out.append(tree(split[s])).append(" * ").append(tree(s ^ split[s])).append(")");
  };
  return {cost[full], tree(full)};
}

// The sizes, FLOPs and bytes of a step that sums labels out of one term (or copies it) ...
ExplainedStep sum_step(const Step& st, const Labels& labels, const std::vector<int64_t>& size, double es) {
  ExplainedStep x;
  x.kind = st.contracted.empty() ? "copy" : "sum";
  x.a_labels = labels;
  x.result_labels = st.left;
  x.m = int64_t(numel_of(st.left, size));
  x.k = int64_t(numel_of(st.contracted, size));
  x.flops = st.contracted.empty() ? 0 : double(x.m) * double(x.k);
  x.bytes = (double(x.m) * double(x.k) + double(x.m)) * es;
  return x;
}

// ... and of one that contracts two terms (a batched GEMM: batch × [m, k] · [k, n]).
ExplainedStep pair_step(const Step& st, const Labels& a, const Labels& b, const std::vector<int64_t>& size, double es) {
  ExplainedStep x;
  x.a_labels = a;
  x.b_labels = b;
  x.batch = int64_t(numel_of(st.batch, size));
  x.m = int64_t(numel_of(st.left, size));
  x.n = int64_t(numel_of(st.right, size));
  x.k = int64_t(numel_of(st.contracted, size));
  x.result_labels = st.batch;
  x.result_labels.insert(x.result_labels.end(), st.left.begin(), st.left.end());
  x.result_labels.insert(x.result_labels.end(), st.right.begin(), st.right.end());
  const double nb = double(x.batch), m = double(x.m), n = double(x.n), k = double(x.k);
  x.flops = 2 * nb * m * n * k;
  x.bytes = nb * (m * k + k * n + m * n) * es;
  x.kind = (x.m == 1 && x.n == 1) ? "dot" : x.k == 1 ? "outer" : "gemm";
  if (x.batch > 1) x.kind = "batched " + x.kind;
  return x;
}

}  // namespace

Explanation explain(const std::string& spec, const std::vector<Shape>& shapes, int64_t element_bytes) {
  Explanation e;
  e.problem = parse(spec, shapes);
  e.shapes = shapes;
  const Problem& p = e.problem;
  const auto& size = p.size;
  const double es = double(element_bytes);
  for (int l : p.output) e.output_shape.push_back(size[size_t(l)]);

  std::vector<Labels> terms;
  for (size_t k = 0; k < shapes.size(); ++k) terms.push_back(term_labels(p.inputs[k], shapes[k]));
  Labels every;
  for (auto& in : p.inputs) every = unite(every, in);
  e.naive_flops = numel_of(every, size) * double(shapes.size());
  e.planner = shapes.size() <= 4 ? "exhaustive" : "greedy";

  // Walk the schedule, numbering what each step makes after the operands.
  std::vector<int> ids(shapes.size());
  std::vector<std::string> tree(shapes.size());
  for (size_t k = 0; k < ids.size(); ++k) {
    ids[k] = int(k);
    tree[k] = "#" + std::to_string(k);
  }
  int next = int(shapes.size());
  double sum_flops = 0;
  std::vector<Labels> now = terms;
  std::vector<Labels> summed = terms;    // each term after its private sum, as the contractions see it
  std::vector<std::string> leaf = tree;  // and its name then
  for (const Step& st : schedule(terms, p.output, size)) {
    ExplainedStep x;
    if (st.j < 0) {
      x = sum_step(st, now[size_t(st.i)], size, es);
      x.a = ids[size_t(st.i)];
      sum_flops += x.flops;
      x.result = next++;
      ids[size_t(st.i)] = x.result;
      now[size_t(st.i)] = summed[size_t(st.i)] = st.left;
      leaf[size_t(st.i)] = tree[size_t(st.i)] = "Σ" + tree[size_t(st.i)];
    } else {
      const size_t i = size_t(st.i), j = size_t(st.j);
      x = pair_step(st, now[i], now[j], size, es);
      x.a = ids[i];
      x.b = ids[j];
      const std::string t = "(" + tree[i] + " * " + tree[j] + ")";
      for (size_t drop : {j, i}) {
        ids.erase(ids.begin() + int64_t(drop));
        tree.erase(tree.begin() + int64_t(drop));
        now.erase(now.begin() + int64_t(drop));
      }
      x.result = next++;
      ids.push_back(x.result);
      tree.push_back(t);
      now.push_back(x.result_labels);
    }
    for (int l : x.result_labels) x.result_shape.push_back(size[size_t(l)]);
    e.flops += x.flops;
    e.bytes += x.bytes;
    e.steps.push_back(x);
  }
  e.tree = tree.size() == 1 ? tree[0] : "";

  if (terms.size() >= 2 && terms.size() <= kMaxBestOperands) {
    auto [cost, best] = best_tree(summed, leaf, p.output, size);
    e.best_known = true;
    e.best_flops = cost + sum_flops;
    e.best_tree = best;
  }
  return e;
}

}  // namespace loupe::einsum_detail
