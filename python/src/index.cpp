// t[key] and t[key] = v, with NumPy's (and PyTorch's) basic indexing: integers (select a dim),
// slices with a positive step, None (a new dim of size 1), one Ellipsis, and one integer tensor or
// list (index_select along that dim; the index's shape takes the dim's place).
// Reading is differentiable: every step is a view op (select, slice, unsqueeze) or index_select.
// Writing copies into the view; it is refused on a tensor that autograd may need (check_inplace).
#include <nanobind/stl/vector.h>

#include "autograd/ops.h"
#include "python/src/bindings.h"

namespace loupe::py {

namespace {

// The two worlds a key applies to: a Var (reading, recorded by autograd) and a Tensor (the view
// that an assignment writes into).
Var select_(const Var& x, int64_t d, int64_t i) { return select(x, d, i); }
Tensor select_(const Tensor& x, int64_t d, int64_t i) { return x.select(d, i); }
Var slice_(const Var& x, int64_t d, int64_t b, int64_t e, int64_t s) { return slice(x, d, b, e, s); }
Tensor slice_(const Tensor& x, int64_t d, int64_t b, int64_t e, int64_t s) { return x.slice(d, b, e, s); }
Var unsqueeze_(const Var& x, int64_t d) { return unsqueeze(x, d); }
Tensor unsqueeze_(const Tensor& x, int64_t d) { return x.unsqueeze(d); }
const Shape& shape_of(const Var& x) { return x.shape(); }
const Shape& shape_of(const Tensor& x) { return x.shape(); }

// x[..., idx, ...] at dim d: index_select with the flattened index, then the index's shape in place of d.
Var take(const Var& x, int64_t d, const Tensor& idx) {
  if (idx.dtype() != DType::I64)
    throw nb::index_error("tensors used as indices must be int64 (loupe has no bool masks: use loupe.where or masked_fill)");
  Shape out(x.shape().begin(), x.shape().begin() + d);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), x.shape().begin() + d + 1, x.shape().end());
  for (double i : idx.to_vector())
    if (i < 0 || i >= double(x.size(d)))
      throw nb::index_error(("index " + std::to_string(int64_t(i)) + " is out of bounds for dimension " +
                             std::to_string(d) + " with size " + std::to_string(x.size(d)))
                                .c_str());
  return reshape(index_select(x, d, idx.contiguous().reshape({idx.numel()})), out);
}
Tensor take(const Tensor&, int64_t, const Tensor&) {
  throw nb::index_error("assigning through a tensor index is not supported; use scatter_add or index a view");
}

bool is_advanced(nb::handle k) {
  return nb::isinstance<Var>(k) || nb::isinstance<nb::list>(k);
}

template <class X>
X apply_key(X x, nb::handle key) {
  std::vector<nb::handle> items;
  if (nb::isinstance<nb::tuple>(key)) {
    for (nb::handle k : nb::borrow<nb::tuple>(key)) items.push_back(k);
  } else {
    items.push_back(key);
  }
  const int64_t ndim = int64_t(shape_of(x).size());
  int64_t consumed = 0, ellipses = 0, advanced = 0;
  for (nb::handle k : items) {
    if (k.is(nb::ellipsis())) {
      ++ellipses;
    } else if (!k.is_none()) {
      ++consumed;
    }
    if (is_advanced(k)) ++advanced;
  }
  if (ellipses > 1) throw nb::index_error("an index can only have a single ellipsis ('...')");
  if (advanced > 1) throw nb::index_error("loupe supports one tensor (or list) index per indexing expression");
  if (consumed > ndim)
    throw nb::index_error(("too many indices for tensor of dimension " + std::to_string(ndim)).c_str());
  int64_t d = 0;
  for (nb::handle k : items) {
    if (k.is_none()) {
      x = unsqueeze_(x, d++);
    } else if (k.is(nb::ellipsis())) {
      d += ndim - consumed;
    } else if (nb::isinstance<nb::bool_>(k)) {
      throw nb::index_error("bool indices are not supported (loupe has no bool dtype)");
    } else if (nb::isinstance<nb::int_>(k)) {
      const int64_t n = shape_of(x)[d];
      int64_t i = nb::cast<int64_t>(k);
      if (i < -n || i >= n)
        throw nb::index_error(("index " + std::to_string(i) + " is out of bounds for dimension " + std::to_string(d) +
                               " with size " + std::to_string(n)).c_str());
      x = select_(x, d, i < 0 ? i + n : i);
    } else if (nb::isinstance<nb::slice>(k)) {
      const int64_t n = shape_of(x)[d];
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(k.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
      if (step <= 0) throw nb::value_error("slice step must be greater than zero");
      const Py_ssize_t len = PySlice_AdjustIndices(Py_ssize_t(n), &start, &stop, step);
      x = slice_(x, d, start, start + len * step, step);
      ++d;
    } else if (is_advanced(k)) {
      const Tensor idx = nb::isinstance<Var>(k) ? nb::cast<Var>(k).value()
                                                 : Tensor::from_ints(nb::cast<std::vector<int64_t>>(k),
                                                                     {int64_t(nb::len(k))});
      x = take(x, d, idx);
      d += idx.dim();
    } else {
      throw nb::index_error(("only integers, slices, None, ..., and int64 tensors or lists are valid indices (got " +
                             std::string(nb::str(nb::handle(k.type())).c_str()) + ")").c_str());
    }
  }
  return x;
}

}  // namespace

void bind_index(nb::class_<Var>& t) {
  t.def("__getitem__", [](const Var& x, nb::handle key) { return apply_key(x, key); }, nb::arg("key").none());
  t.def("__setitem__", [](Var& x, nb::handle key, nb::handle value) {
    check_inplace(x, "t[...] = v");
    Tensor view = apply_key(x.value(), key);
    if (nb::isinstance<Var>(value)) {
      view.copy_(nb::cast<Var>(value).value());
    } else {
      view.fill_(nb::cast<double>(value));
    }
  }, nb::arg("key").none(), nb::arg("value"));
}

}  // namespace loupe::py
