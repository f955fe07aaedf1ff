// einsum execution.
//   1. Each operand becomes a Term: a strided view whose dims carry distinct labels. A repeated label
//      (ii, iij) is a diagonal: its dims fold into one dim whose stride is the sum of theirs — a view,
//      no copy. Size-1 dims are dropped: they hold one value, so a broadcast '...' dim (1 against n)
//      is simply a label the operand does not have.
//   2. Labels that only one operand has and the output lacks are summed out first (a row-sum kernel).
//   3. Operands are contracted pairwise in the order einsum_plan.cpp picks. Each pair is one batched
//      GEMM: labels in both operands and needed later are the batch, labels in both and not needed
//      are contracted (K), the rest are rows (M, from the left operand) or columns (N, from the right).
//      Each group is permuted next to each other and merged into a single (size, stride) dim, which
//      is a view whenever the group's dims nest in memory (a copy only when they do not).
//   4. The last step writes straight into the output tensor when its layout allows.
// Long file: the four steps are one algorithm, read top to bottom here (its plan is einsum_plan.cpp).
#include "tensor/kernels/einsum.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "tensor/kernels/gemm.h"
#include "tensor/kernels/softmax.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tensor/simd.h"

namespace loupe {

namespace einsum_detail {
namespace {

// A tensor whose dims carry distinct labels, labels[d] naming dim d.
struct Term {
  Tensor t;
  Labels labels;
};

size_t pos(const Labels& ls, int l) { return size_t(std::find(ls.begin(), ls.end(), l) - ls.begin()); }

// Step 1: ii -> i is the view with stride (stride_0 + stride_1); size-1 dims dropped. Its labels are
// term_labels(labels, shape) (einsum_plan.cpp), which the schedule is worked out from.
Term diagonal_view(const Tensor& t, const Labels& labels) {
  Term r;
  Shape shape, strides;
  for (size_t d = 0; d < labels.size(); ++d) {
    if (t.shape()[d] == 1) continue;
    if (has_label(r.labels, labels[d])) {
      strides[pos(r.labels, labels[d])] += t.strides()[d];
      continue;
    }
    r.labels.push_back(labels[d]);
    shape.push_back(t.shape()[d]);
    strides.push_back(t.strides()[d]);
  }
  r.t = t.as_strided(shape, strides, t.offset());
  return r;
}

// ---------------------------------------------------------------- dim groups
// A group of dims seen as one: `size` elements, `stride` apart.
struct Dim {
  int64_t size = 1, stride = 0;
};

// Merges the dims of x named by `group` (in that order, outermost first) into one Dim; false when
// they do not nest (each stride = the next one's stride * size), i.e. when a view cannot do it.
bool merge(const Term& x, const Labels& group, Dim& out) {
  out = Dim{};
  int64_t expect = 0;
  bool first = true;
  for (size_t g = group.size(); g-- > 0;) {
    const size_t d = pos(x.labels, group[g]);
    const int64_t n = x.t.shape()[d], s = x.t.strides()[d];
    if (n == 1) continue;
    if (!first && s != expect) return false;
    if (first) {
      out.stride = s;
      first = false;
    }
    out.size *= n;
    expect = s * n;
  }
  return true;
}

// `group` sorted by decreasing stride in x (the order in which x's dims of the group nest, if any).
Labels by_stride(const Labels& group, const Term& x) {
  Labels g = group;
  std::stable_sort(g.begin(), g.end(), [&](int a, int b) {
    return std::abs(x.t.strides()[pos(x.labels, a)]) > std::abs(x.t.strides()[pos(x.labels, b)]);
  });
  return g;
}

// Orders a label group so that it merges in as many of `terms` as possible (fewest elements copied).
// Candidates: `preferred` (the output's order, if any), then each term's stride order.
Labels choose_order(const Labels& group, const std::vector<const Term*>& terms, const Term* preferred) {
  std::vector<Labels> candidates;
  if (preferred) {
    Labels g;
    for (int l : preferred->labels)
      if (has_label(group, l)) g.push_back(l);
    candidates.push_back(g);
  }
  for (const Term* t : terms) candidates.push_back(by_stride(group, *t));
  Labels best;
  int64_t best_copied = -1;
  for (auto& c : candidates) {
    int64_t copied = 0;
    Dim unused;
    for (const Term* t : terms)
      if (!merge(*t, c, unused)) copied += t->t.numel();
    if (best_copied < 0 || copied < best_copied) {
      best = c;
      best_copied = copied;
    }
  }
  return best;
}

Tensor permuted(const Term& x, const Labels& order) {
  std::vector<int64_t> p;
  for (int l : order) p.push_back(int64_t(pos(x.labels, l)));
  return x.t.permute(p);
}

Labels concat(std::initializer_list<const Labels*> groups) {
  Labels r;
  for (auto* g : groups) r.insert(r.end(), g->begin(), g->end());
  return r;
}

// x as a batch of matrices [batch][rows][cols]: a view when each group nests, else a contiguous copy.
struct Batched {
  Tensor t;  // keeps the (possibly copied) data alive
  Dim batch, rows, cols;
};
Batched as_batched(const Term& x, const Labels& g0, const Labels& g1, const Labels& g2) {
  const Labels order = concat({&g0, &g1, &g2});
  Term v{permuted(x, order), order};
  Batched b;
  if (!(merge(v, g0, b.batch) && merge(v, g1, b.rows) && merge(v, g2, b.cols))) {
    v.t = v.t.contiguous();
    merge(v, g0, b.batch), merge(v, g1, b.rows), merge(v, g2, b.cols);
  }
  b.t = v.t;
  return b;
}

Shape sizes_of(const Labels& ls, const std::vector<int64_t>& size) {
  Shape s;
  for (int l : ls) s.push_back(size[size_t(l)]);
  return s;
}

// ---------------------------------------------------------------- kernels
// Sum of n elements p[0], p[s], ...: blocks of kBlock (contiguous ones summed by kernels::row_sum,
// in lanes.h's fixed order: the same bits on every ISA; strided ones element by element), block
// totals added in f64 (accurate for long f32 sums); a fixed order for any thread count.
template <typename T>
T strided_sum(const T* p, int64_t n, int64_t s) {
  constexpr int64_t kBlock = 256;
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    T acc = 0;
    if (s == 1)
      acc = kernels::row_sum(p + b0, b1 - b0);
    else
      for (int64_t i = b0; i < b1; ++i) acc += p[i * s];
    total += double(acc);
  }
  return T(total);
}

// Σ a[i·sa] b[i·sb]: contiguous operands by kernels::row_dot (lanes.h's order), strided ones as a
// chain of FMAs in i order.
template <typename T>
T strided_dot(const T* a, int64_t sa, const T* b, int64_t sb, int64_t n) {
  if (sa == 1 && sb == 1) return kernels::row_dot(a, b, n);
  T acc = 0;
  for (int64_t i = 0; i < n; ++i) acc = std::fma(a[i * sa], b[i * sb], acc);
  return acc;
}

// out[o] = sum_r x[o, r] over the kept dims `keep` (shape, x strides, out strides) and one merged
// reduced dim r. Long rows are cut into fixed chunks (partial sums added in chunk order) so large
// sums use every thread and still give the same bits for any thread count.
template <typename T>
void row_sums(const T* x, T* out, const Shape& keep, const Shape& xs, const Shape& os, Dim r) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t rows = shape_numel(keep), chunks = (r.size + kChunk - 1) / kChunk;
  auto offsets = [&](int64_t o, int64_t& xo, int64_t& oo) {
    xo = oo = 0;
    for (size_t d = keep.size(); d-- > 0;) {
      const int64_t i = o % keep[d];
      o /= keep[d];
      xo += i * xs[d];
      oo += i * os[d];
    }
  };
  if (chunks <= 1) {
    parallel_for(rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(r.size, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        int64_t xo, oo;
        offsets(o, xo, oo);
        out[oo] = strided_sum(x + xo, r.size, r.stride);
      }
    });
    return;
  }
  std::vector<T> partial(size_t(rows * chunks));
  parallel_for(rows * chunks, 2, [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      int64_t xo, oo;
      offsets(w / chunks, xo, oo);
      const int64_t c0 = (w % chunks) * kChunk;
      partial[size_t(w)] = strided_sum(x + xo + c0 * r.stride, std::min(kChunk, r.size - c0), r.stride);
    }
  });
  for (int64_t o = 0; o < rows; ++o) {
    int64_t xo, oo;
    offsets(o, xo, oo);
    T acc = 0;
    for (int64_t c = 0; c < chunks; ++c) acc += partial[size_t(o * chunks + c)];
    out[oo] = acc;
  }
}

// ---------------------------------------------------------------- reduction (one operand)
// Sums x over its labels not in `keep`. The result's labels are `keep` in x's stride order, or, when
// `dest` is given, written into dest (whose labels are exactly `keep`, in dest's order).
Term reduce(const Term& x, const Labels& keep, const Term* dest, const std::vector<int64_t>& size) {
  Labels kept, summed;
  for (int l : x.labels) (has_label(keep, l) ? kept : summed).push_back(l);
  kept = dest ? dest->labels : by_stride(kept, x);
  summed = by_stride(summed, x);
  Term out = dest ? *dest : Term{Tensor::empty(sizes_of(kept, size), x.t.dtype()), kept};
  if (summed.empty()) {  // a permuted copy (e.g. the diagonal ii->i, or ij->ji)
    out.t.copy_(permuted(x, kept));
    return out;
  }
  Term v{permuted(x, concat({&kept, &summed})), concat({&kept, &summed})};
  Dim r;
  if (!merge(v, summed, r)) {
    v.t = v.t.contiguous();
    merge(v, summed, r);
  }
  const Shape keep_shape(v.t.shape().begin(), v.t.shape().begin() + int64_t(kept.size()));
  const Shape xs(v.t.strides().begin(), v.t.strides().begin() + int64_t(kept.size()));
  LOUPE_DISPATCH(x.t.dtype(), T, { row_sums<T>(v.t.data<T>(), out.t.data<T>(), keep_shape, xs, out.t.strides(), r); });
  return out;
}

// ---------------------------------------------------------------- contraction (two operands)
// C[batch, left, right] = sum_contracted A[batch, left, contracted] * B[batch, contracted, right]:
// one call of gemm_batched, or a simpler loop for the degenerate shapes: a batched dot product
// (no left or right labels) and batched outer products (nothing contracted).
template <typename T>
void batched_product(const Batched& a, const Batched& b, T* c, Dim cb, Dim cm, Dim cn) {
  const T* pa = a.t.data<T>();
  const T* pb = b.t.data<T>();
  const int64_t batch = a.batch.size, m = a.rows.size, n = b.cols.size, k = a.cols.size;
  if (m == 1 && n == 1) {  // elementwise product summed over K, per batch element (no GEMM to speak of)
    parallel_for(batch, std::max<int64_t>(1, 4096 / k), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        c[i * cb.stride] =
            strided_dot(pa + i * a.batch.stride, a.cols.stride, pb + i * b.batch.stride, b.rows.stride, k);
    });
    return;
  }
  if (k == 1) {  // outer products C[b, i, j] = A[b, i] * B[b, j]: rows of a scaled B row, no packing
    parallel_for(batch * m, std::max<int64_t>(1, 16384 / n), [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        const int64_t bi = r / m, i = r % m;
        const T av = pa[bi * a.batch.stride + i * a.rows.stride];
        const T* brow = pb + bi * b.batch.stride;
        T* crow = c + bi * cb.stride + i * cm.stride;
        if (b.cols.stride == 1 && cn.stride == 1) {
          for (int64_t j = 0; j < n; ++j) crow[j] = av * brow[j];
        } else {
          for (int64_t j = 0; j < n; ++j) crow[j * cn.stride] = av * brow[j * b.cols.stride];
        }
      }
    });
    return;
  }
  using kernels::MatRef;
  if (cn.stride != 1 && cm.stride == 1 && n > 1) {
    // C is column-major: compute Cᵀ = Bᵀ Aᵀ so the GEMM writes unit-stride rows.
    kernels::gemm_batched<T>(batch, n, m, k, T(1), MatRef<T>{pb, b.cols.stride, b.rows.stride}, b.batch.stride,
                             MatRef<T>{pa, a.cols.stride, a.rows.stride}, a.batch.stride, T(0), c, cn.stride,
                             cm.stride, cb.stride);
    return;
  }
  kernels::gemm_batched<T>(batch, m, n, k, T(1), MatRef<T>{pa, a.rows.stride, a.cols.stride}, a.batch.stride,
                           MatRef<T>{pb, b.rows.stride, b.cols.stride}, b.batch.stride, T(0), c, cm.stride,
                           cn.stride, cb.stride);
}

// Contracts a and b as schedule() planned it (its batch / left / right / contracted label groups,
// in any order: they are reordered here to suit the layouts). With `dest`, the result is written into
// it (its labels: the batch, left and right labels).
Term contract(const Term& a, const Term& b, const Step& st, const Term* dest, const std::vector<int64_t>& size) {
  std::vector<const Term*> with_a{&a}, with_b{&b}, with_ab{&a, &b};
  if (dest) with_a.push_back(dest), with_b.push_back(dest), with_ab.push_back(dest);
  const Labels batch = choose_order(st.batch, with_ab, dest), left = choose_order(st.left, with_a, dest);
  const Labels right = choose_order(st.right, with_b, dest), contracted = choose_order(st.contracted, {&a, &b}, nullptr);

  const Batched A = as_batched(a, batch, left, contracted);
  const Batched B = as_batched(b, batch, contracted, right);
  const Labels out_labels = concat({&batch, &left, &right});

  // The result: dest itself when each group nests there, else a fresh [batch, left, right] tensor.
  Term c;
  Dim cb, cm, cn;
  const bool direct = dest && merge(*dest, batch, cb) && merge(*dest, left, cm) && merge(*dest, right, cn);
  if (direct) {
    c = *dest;
  } else {
    c = Term{Tensor::empty(sizes_of(out_labels, size), a.t.dtype()), out_labels};
    merge(c, batch, cb), merge(c, left, cm), merge(c, right, cn);
  }
  LOUPE_DISPATCH(a.t.dtype(), T, { batched_product<T>(A, B, c.t.data<T>(), cb, cm, cn); });
  if (dest && !direct) {
    permuted(*dest, out_labels).copy_(c.t);
    return *dest;
  }
  return c;
}

}  // namespace

// ---------------------------------------------------------------- evaluate
Tensor evaluate(const std::vector<Tensor>& operands, const std::vector<Labels>& labels, const Labels& output,
                const std::vector<int64_t>& size, const std::string& spec) {
  LOUPE_CHECK(!operands.empty(), "einsum('", spec, "'): needs at least one operand");
  LOUPE_CHECK(labels.size() == operands.size(), "einsum('", spec, "'): ", labels.size(), " label lists for ",
              operands.size(), " operands");
  for (size_t k = 0; k < operands.size(); ++k)
    LOUPE_CHECK(int64_t(labels[k].size()) == operands[k].dim(), "einsum('", spec, "'): operand ", k, " ",
                operands[k].str(), " has ", labels[k].size(), " labels");
  const DType dt = operands[0].dtype();
  for (size_t k = 0; k < operands.size(); ++k) {
    LOUPE_CHECK(operands[k].defined(), "einsum('", spec, "'): operand ", k, " is undefined");
    LOUPE_CHECK(is_floating(operands[k].dtype()) && operands[k].dtype() == dt, "einsum('", spec,
                "'): operands must all be f32 or all f64; operand 0 is ", operands[0].str(), ", operand ", k, " is ",
                operands[k].str());
  }
  Tensor out = Tensor::empty(sizes_of(output, size), dt);
  bool empty_sum = false;  // a sum over no terms is 0
  for (auto& t : operands) empty_sum = empty_sum || t.numel() == 0;
  if (empty_sum || out.numel() == 0) {
    out.fill_(0);
    return out;
  }

  std::vector<Term> terms;
  for (size_t k = 0; k < operands.size(); ++k) terms.push_back(diagonal_view(operands[k], labels[k]));

  // The output labels some term provides; the others (size-1, or broadcast in the gradient's einsum)
  // are filled in at the end.
  auto present = [&](int l) {
    for (auto& t : terms)
      if (has_label(t.labels, l)) return true;
    return false;
  };
  Labels provided;
  bool broadcast_out = false;
  for (int l : output) {
    if (present(l))
      provided.push_back(l);
    else
      broadcast_out = broadcast_out || size[size_t(l)] > 1;
  }
  const Shape provided_shape = sizes_of(provided, size);
  const Term dest{broadcast_out ? Tensor::empty(provided_shape, dt) : out.view(provided_shape), provided};

  if (terms.size() == 1) {
    reduce(terms[0], provided, &dest, size);
  } else {
    std::vector<Labels> labels_now;
    for (auto& t : terms) labels_now.push_back(t.labels);
    for (const Step& st : schedule(labels_now, output, size)) {
      if (st.j < 0) {  // a term's private labels, summed before any GEMM
        terms[size_t(st.i)] = reduce(terms[size_t(st.i)], st.left, nullptr, size);
        continue;
      }
      const Term a = terms[size_t(st.i)], b = terms[size_t(st.j)];
      terms.erase(terms.begin() + st.j);
      terms.erase(terms.begin() + st.i);
      terms.push_back(contract(a, b, st, terms.empty() ? &dest : nullptr, size));
    }
  }

  if (broadcast_out) {
    // Insert the missing output dims as size 1 and let copy_ broadcast them.
    Shape with_ones;
    for (int l : output) with_ones.push_back(has_label(provided, l) ? size[size_t(l)] : 1);
    out.copy_(dest.t.view(with_ones));
  }
  return out;
}

}  // namespace einsum_detail

Tensor einsum(const std::string& spec, const std::vector<Tensor>& operands) {
  std::vector<Shape> shapes;
  for (auto& t : operands) {
    LOUPE_CHECK(t.defined(), "einsum('", spec, "'): an operand is undefined");
    shapes.push_back(t.shape());
  }
  const einsum_detail::Problem p = einsum_detail::parse(spec, shapes);
  return einsum_detail::evaluate(operands, p.inputs, p.output, p.size, spec);
}

}  // namespace loupe
