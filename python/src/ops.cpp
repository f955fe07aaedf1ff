// The ops of loupe's op registry (autograd/ops.h), each both a function (loupe.exp(x)) and a
// Tensor method (x.exp()), with PyTorch's names and argument conventions. The Python package
// adds the spellings that are pure Python (loupe.cat, F.gelu(approximate=...), masked_fill).
// python/tests/test_ops.py walks `loupe.ops()` and fails on an op that cannot be reached.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "autograd/ops.h"
#include "python/src/bindings.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using Release = nb::call_guard<nb::gil_scoped_release>;

// def(name, f, extra...): the function loupe.<name> and the method Tensor.<name>. Where the
// method names its arguments, the function names its first one `input`, as PyTorch's do.
struct Both {
  nb::module_& m;
  nb::class_<Var>& t;
  template <class F, class... Extra>
  Both& def(const char* name, F&& f, const Extra&... extra) {
    if constexpr ((nb::detail::arg_traits<Extra>::is_arg || ...)) {
      m.def(name, f, nb::arg("input"), extra...);
    } else {
      m.def(name, f, extra...);
    }
    t.def(name, std::forward<F>(f), extra...);
    return *this;
  }
};

// -1 in a target shape of expand keeps that dim's size, as in PyTorch.
Shape expand_shape(const Var& x, Shape s) {
  const int64_t lead = int64_t(s.size()) - x.dim();
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == -1) {
      if (int64_t(i) < lead) throw nb::value_error("expand: -1 is not allowed for a new leading dim");
      s[i] = x.size(int64_t(i) - lead);
    }
  return s;
}

// flatten(start_dim, end_dim): dims start..end merged into one.
Shape flat_shape(const Shape& s, int64_t start, int64_t end) {
  const int64_t n = int64_t(s.size());
  if (n == 0) return {1};
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0 || end >= n || start > end) throw nb::index_error("flatten: start_dim/end_dim out of range");
  Shape out(s.begin(), s.begin() + start);
  int64_t k = 1;
  for (int64_t i = start; i <= end; ++i) k *= s[i];
  out.push_back(k);
  out.insert(out.end(), s.begin() + end + 1, s.end());
  return out;
}

void bind_elementwise(Both& b) {
  b.def("neg", [](const Var& x) { return neg(x); }, Release())
      .def("exp", [](const Var& x) { return exp(x); }, Release())
      .def("log", [](const Var& x) { return log(x); }, Release())
      .def("sqrt", [](const Var& x) { return sqrt(x); }, Release())
      .def("rsqrt", [](const Var& x) { return rsqrt(x); }, Release())
      .def("tanh", [](const Var& x) { return tanh(x); }, Release())
      .def("sigmoid", [](const Var& x) { return sigmoid(x); }, Release())
      .def("relu", [](const Var& x) { return relu(x); }, Release())
      .def("silu", [](const Var& x) { return silu(x); }, Release())
      .def("sin", [](const Var& x) { return sin(x); }, Release())
      .def("cos", [](const Var& x) { return cos(x); }, Release())
      .def("abs", [](const Var& x) { return abs(x); }, Release())
      .def("pow", [](const Var& x, double p) { return pow(x, p); }, "exponent"_a, Release())
      .def("add", [](const Var& a, const Var& c) { return add(a, c); }, Release())
      .def("sub", [](const Var& a, const Var& c) { return sub(a, c); }, Release())
      .def("mul", [](const Var& a, const Var& c) { return mul(a, c); }, Release())
      .def("div", [](const Var& a, const Var& c) { return div(a, c); }, Release())
      .def("maximum", [](const Var& a, const Var& c) { return maximum(a, c); }, Release())
      .def("minimum", [](const Var& a, const Var& c) { return minimum(a, c); }, Release());
  // gelu(x) is exact (x·Φ(x)); gelu(x, approximate="tanh") is GPT-2's tanh form, op gelu_tanh.
  b.def("gelu", [](const Var& x, const std::string& approximate) {
    if (approximate == "none") return gelu(x);
    if (approximate == "tanh") return gelu_tanh(x);
    throw nb::value_error(("gelu: approximate must be 'none' or 'tanh', got '" + approximate + "'").c_str());
  }, "approximate"_a = "none");
  // to(dtype): differentiable between float32 and float64 (op cast); to or from int64 it is a copy
  // with no gradient.
  b.def("to", [](const Var& x, DType d) {
    if (d == x.dtype()) return x;
    if (is_floating(d) && is_floating(x.dtype())) return cast(x, d);
    if (x.requires_grad()) throw nb::value_error("to(): a tensor that requires grad can only be cast to a floating dtype");
    return Var(x.value().to(d));
  }, "dtype"_a, Release());
  // where(cond, a, b): a where cond != 0, else b (cond carries no gradient).
  b.m.def("where", [](const Var& cond, const Var& a, const Var& c) { return where(cond.value(), a, c); }, Release());
  b.def("argmax", [](const Var& x, int64_t dim, bool keepdim) { return Var(argmax(x.value(), dim, keepdim)); },
        "dim"_a, "keepdim"_a = false, Release());
}

void bind_reductions(Both& b) {
  b.def("sum", [](const Var& x, nb::handle dim, bool keepdim) { return sum(x, dims_arg(dim), keepdim); },
        "dim"_a = nb::none(), "keepdim"_a = false)
      .def("mean", [](const Var& x, nb::handle dim, bool keepdim) { return mean(x, dims_arg(dim), keepdim); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("amax", [](const Var& x, nb::handle dim, bool keepdim) { return amax(x, dims_arg(dim), keepdim); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      .def("amin", [](const Var& x, nb::handle dim, bool keepdim) { return amin(x, dims_arg(dim), keepdim); },
           "dim"_a = nb::none(), "keepdim"_a = false)
      // var: correction=1 (Bessel's, PyTorch's default) or unbiased=False for the population variance.
      .def("var", [](const Var& x, nb::handle dim, std::optional<bool> unbiased, bool keepdim,
                     std::optional<int64_t> correction) {
        const int64_t c = correction ? *correction : (unbiased.value_or(true) ? 1 : 0);
        return var(x, dims_arg(dim), keepdim, c);
      }, "dim"_a = nb::none(), "unbiased"_a = nb::none(), "keepdim"_a = false, nb::kw_only(),
           "correction"_a = nb::none())
      .def("softmax", [](const Var& x, int64_t dim) { return softmax(x, dim); }, "dim"_a, Release())
      .def("log_softmax", [](const Var& x, int64_t dim) { return log_softmax(x, dim); }, "dim"_a, Release())
      .def("cumsum", [](const Var& x, int64_t dim) { return cumsum(x, dim); }, "dim"_a, Release());
}

void bind_views(Both& b, nb::class_<Var>& t) {
  b.def("reshape", [](const Var& x, const nb::args& s) { return reshape(x, shape_args(s)); })
      .def("permute", [](const Var& x, const nb::args& d) { return permute(x, shape_args(d)); })
      .def("transpose", [](const Var& x, int64_t d0, int64_t d1) { return transpose(x, d0, d1); }, "dim0"_a, "dim1"_a)
      .def("narrow", [](const Var& x, int64_t dim, int64_t start, int64_t length) {
        return narrow(x, dim, start, length);
      }, "dim"_a, "start"_a, "length"_a)
      .def("squeeze", [](const Var& x, std::optional<int64_t> dim) {
        if (dim) return squeeze(x, *dim);
        Shape s;
        for (int64_t d : x.shape())
          if (d != 1) s.push_back(d);
        return reshape(x, s);
      }, "dim"_a = nb::none())
      .def("unsqueeze", [](const Var& x, int64_t dim) { return unsqueeze(x, dim); }, "dim"_a)
      .def("flatten", [](const Var& x, int64_t start, int64_t end) {
        return reshape(x, flat_shape(x.shape(), start, end));
      }, "start_dim"_a = 0, "end_dim"_a = -1);
  // view: reshape that never copies (an error where the strides do not allow it, as PyTorch's).
  t.def("view", [](const Var& x, const nb::args& s) {
     const Shape shape = shape_args(s);
     (void)x.value().view(shape);
     return reshape(x, shape);
   })
      .def("expand", [](const Var& x, const nb::args& s) { return expand(x, expand_shape(x, shape_args(s))); })
      .def("contiguous", [](const Var& x) { return contiguous(x); }, Release())
      .def_prop_ro("T", [](const Var& x) {
        std::vector<int64_t> d(size_t(x.dim()));
        for (size_t i = 0; i < d.size(); ++i) d[i] = int64_t(d.size() - 1 - i);
        return permute(x, d);
      })
      .def_prop_ro("mT", [](const Var& x) { return transpose(x, -2, -1); });
}

void bind_indexing(Both& b, nb::module_& m) {
  b.def("gather", [](const Var& x, int64_t dim, const Var& index) { return gather(x, dim, index.value()); },
        "dim"_a, "index"_a, Release())
      .def("index_select", [](const Var& x, int64_t dim, const Var& index) {
        return index_select(x, dim, index.value());
      }, "dim"_a, "index"_a, Release())
      .def("scatter_add", [](const Var& x, int64_t dim, const Var& index, const Var& src) {
        return scatter_add(x, dim, index.value(), src);
      }, "dim"_a, "index"_a, "src"_a, Release())
      // split(size) in chunks of `size` (the last may be shorter), or split([sizes]).
      .def("split", [](const Var& x, nb::handle sizes, int64_t dim) {
        std::vector<int64_t> s;
        if (nb::isinstance<nb::int_>(sizes)) {
          const int64_t step = nb::cast<int64_t>(sizes), n = x.size(dim);
          if (step <= 0) throw nb::value_error("split: split_size must be positive");
          for (int64_t at = 0; at < n; at += step) s.push_back(std::min(step, n - at));
        } else {
          s = nb::cast<std::vector<int64_t>>(sizes);
        }
        return split(x, s, dim);
      }, "split_size_or_sections"_a, "dim"_a = 0);
  m.def("cat", [](const std::vector<Var>& xs, int64_t dim) { return concat(xs, dim); }, "tensors"_a, "dim"_a = 0,
        Release());
  m.def("stack", [](const std::vector<Var>& xs, int64_t dim) { return stack(xs, dim); }, "tensors"_a, "dim"_a = 0,
        Release());
  m.def("matmul", [](const Var& a, const Var& c) { return matmul(a, c); }, Release());
  m.def("einsum", [](const std::string& spec, const nb::args& operands) {
    std::vector<Var> xs;
    if (operands.size() == 1 && !nb::isinstance<Var>(operands[0])) {
      xs = nb::cast<std::vector<Var>>(operands[0]);
    } else {
      for (nb::handle o : operands) xs.push_back(nb::cast<Var>(o));
    }
    nb::gil_scoped_release release;
    return einsum(spec, xs);
  }, "equation"_a, "operands"_a);
  m.def("embedding", [](const Var& ids, const Var& weight) { return embedding(weight, ids.value()); }, "input"_a,
        "weight"_a, Release());
  m.def("cross_entropy", [](const Var& logits, const Var& targets, int64_t ignore_index) {
    return cross_entropy(logits, targets.value(), ignore_index);
  }, "input"_a, "target"_a, "ignore_index"_a = -100, Release());
  m.def("linear_cross_entropy", [](const Var& h, const Var& weight, const Var& targets, int64_t ignore_index) {
    return linear_cross_entropy(h, weight, targets.value(), ignore_index);
  }, "input"_a, "weight"_a, "target"_a, "ignore_index"_a = -100, Release());
}

}  // namespace

void bind_ops(nb::module_& m, nb::class_<Var>& t) {
  Both b{m, t};
  bind_elementwise(b);
  bind_reductions(b);
  bind_views(b, t);
  bind_indexing(b, m);
  t.def("matmul", [](const Var& a, const Var& c) { return matmul(a, c); }, Release());
  m.def("ops", [] { return op_registry(); }, "the names of every differentiable op in loupe's registry");
}

}  // namespace loupe::py
