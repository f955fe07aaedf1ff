// einsum: forward in tensor/kernels/einsum.cpp; the gradient of each operand is itself an einsum.
//
//   out[o] = sum_{not o} prod_k X_k[s_k]   =>   dX_i[s_i] = sum_{labels not in s_i} g[o] * prod_{k != i} X_k[s_k]
//
// i.e. einsum(g, X_k for k != i -> s_i), built directly from the parsed labels. Three corrections:
//   - a label repeated in s_i (a diagonal, ii) cannot be an output label: compute the gradient over
//     the distinct labels, then scatter it onto the diagonal of a zero tensor through an as_strided view;
//   - a '...' dim that X_i broadcast (size 1 against n) is left out of the gradient's einsum, so it is
//     summed, and comes back as size 1;
//   - a label only X_i has (summed in the forward) does not reach the gradient at all: dX_i is constant
//     along it, so the gradient is broadcast with expand.
#include <algorithm>

#include "autograd/ops.h"
#include "tensor/kernels/einsum.h"

namespace loupe {

LOUPE_REGISTER_OP("einsum");

namespace {

using einsum_detail::Labels;
using einsum_detail::Problem;

Tensor einsum_operand_grad(const Problem& p, const std::vector<Tensor>& xs, const Tensor& g, size_t i) {
  const Labels& own = p.inputs[i];
  const Shape& shape = xs[i].shape();

  // Distinct labels of X_i (first appearance order) with X_i's size for each.
  Labels distinct;
  Shape distinct_size;
  for (size_t d = 0; d < own.size(); ++d)
    if (std::find(distinct.begin(), distinct.end(), own[d]) == distinct.end())
      distinct.push_back(own[d]), distinct_size.push_back(shape[d]);

  // The labels the gradient's einsum can produce: at full size in X_i and present in g or another operand.
  std::vector<bool> elsewhere(p.size.size(), false);
  for (int l : p.output) elsewhere[size_t(l)] = true;
  for (size_t k = 0; k < xs.size(); ++k)
    if (k != i)
      for (int l : p.inputs[k]) elsewhere[size_t(l)] = true;
  Labels grad_labels;
  Shape with_ones;  // the einsum's result seen over `distinct`, 1 where a label is left out
  for (size_t u = 0; u < distinct.size(); ++u) {
    const int l = distinct[u];
    const bool produced = elsewhere[size_t(l)] && distinct_size[u] == p.size[size_t(l)];
    if (produced) grad_labels.push_back(l);
    with_ones.push_back(produced ? distinct_size[u] : 1);
  }

  std::vector<Tensor> ops{g};
  std::vector<Labels> labels{p.output};
  for (size_t k = 0; k < xs.size(); ++k)
    if (k != i) ops.push_back(xs[k]), labels.push_back(p.inputs[k]);
  const Tensor gd = einsum_detail::evaluate(ops, labels, grad_labels, p.size, p.spec).view(with_ones).expand(distinct_size);

  if (distinct.size() == own.size()) return gd;  // no repeated label: dims already in X_i's order
  // Diagonal: write gd into the strided view of a zero tensor that has X_i's repeated dims folded.
  Tensor dx = Tensor::zeros(shape, xs[i].dtype());
  const Shape st = contiguous_strides(shape);
  Shape diag_strides(distinct.size(), 0);
  for (size_t d = 0; d < own.size(); ++d)
    diag_strides[size_t(std::find(distinct.begin(), distinct.end(), own[d]) - distinct.begin())] += st[d];
  dx.as_strided(distinct_size, diag_strides, dx.offset()).copy_(gd);
  return dx;
}

}  // namespace

Var einsum(const std::string& spec, const std::vector<Var>& operands) {
  std::vector<Tensor> xs;
  std::vector<Shape> shapes;
  std::vector<bool> wants_grad;
  for (auto& v : operands) {
    LOUPE_CHECK(v.defined(), "einsum('", spec, "'): an operand is undefined");
    xs.push_back(v.value());
    shapes.push_back(v.shape());
    wants_grad.push_back(v.requires_grad());
  }
  auto p = std::make_shared<const Problem>(einsum_detail::parse(spec, shapes));
  Tensor out = einsum_detail::evaluate(xs, p->inputs, p->output, p->size, spec);
  return make_result("einsum", out, operands, [p, xs, wants_grad](const Tensor& g) {
    std::vector<Tensor> grads(xs.size());
    for (size_t i = 0; i < xs.size(); ++i)
      if (wants_grad[i]) grads[i] = einsum_operand_grad(*p, xs, g, i);
    return grads;
  });
}

}  // namespace loupe
