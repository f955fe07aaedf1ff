// loupe.Tensor: a loupe::Var seen from Python with PyTorch's names. Its metadata and autograd
// (requires_grad, grad, backward, detach), its memory shared with NumPy and DLPack consumers, and
// the few in-place updates PyTorch code makes (`p -= lr * p.grad` under no_grad, grad.zero_()).
// Arithmetic operators and comparisons live here too; named ops are in ops.cpp.
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "autograd/ops.h"
#include "python/src/bindings.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using Release = nb::call_guard<nb::gil_scoped_release>;

nb::dlpack::dtype dl_dtype(DType d) {
  return d == DType::F32 ? nb::dtype<float>() : d == DType::F64 ? nb::dtype<double>() : nb::dtype<int64_t>();
}

// The tensor's memory as an ndarray of framework F, sharing it: the capsule holds the storage.
template <class F>
nb::ndarray<F> as_ndarray(const Tensor& t) {
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  return nb::ndarray<F>(t.raw_data(), shape.size(), shape.data(), owner, t.strides().data(), dl_dtype(t.dtype()));
}

void refuse_export_with_grad(const Var& v, const char* what) {
  if (v.requires_grad())
    throw nb::value_error((std::string("Can't call ") + what +
                           " on a Tensor that requires grad. Use tensor.detach()." + what + " instead.")
                              .c_str());
}

// A loupe tensor viewing the memory of an ndarray (NumPy through the buffer protocol or DLPack, a
// PyTorch or JAX tensor through DLPack). The ndarray is kept alive by the storage and released
// with the GIL held (the last view may die on a thread that does not hold it).
using CpuArray = nb::ndarray<nb::device::cpu>;
Var wrap_ndarray(const CpuArray& a) {
  const auto dt = a.dtype();
  DType d;
  if (dt == nb::dtype<float>()) {
    d = DType::F32;
  } else if (dt == nb::dtype<double>()) {
    d = DType::F64;
  } else if (dt == nb::dtype<int64_t>()) {
    d = DType::I64;
  } else {
    throw nb::type_error("loupe tensors are float32, float64 or int64; this array's dtype is none of them");
  }
  Shape shape(a.ndim()), strides(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = int64_t(a.shape(i));
    strides[i] = a.stride(i);
  }
  std::shared_ptr<void> owner(new CpuArray(a), [](void* p) {
    nb::gil_scoped_acquire gil;
    delete static_cast<CpuArray*>(p);
  });
  return Var(Tensor::from_external(a.data(), d, shape, strides, std::move(owner)));
}

nb::tuple shape_tuple(const Shape& s) {
  nb::list l;
  for (int64_t d : s) l.append(d);
  return nb::tuple(l);
}

// Comparisons give 1 or 0 in the inputs' dtype (loupe has no bool dtype) and no gradient.
template <Tensor (*Cmp)(const Tensor&, const Tensor&)>
void def_compare(nb::class_<Var>& t, const char* name) {
  t.def(name, [](const Var& a, const Var& b) { return Var(Cmp(a.value(), b.value())); }, nb::is_operator(), Release());
  t.def(name, [](const Var& a, double s) { return Var(Cmp(a.value(), Tensor::scalar(s, a.dtype()))); },
        nb::is_operator(), Release());
}

// In place on the value, where PyTorch allows it (check_inplace): a += b, a -= b, a *= b, a /= b.
Var& inplace(Var& a, const Tensor& result, const char* op) {
  check_inplace(a, op);
  a.mutable_value().copy_(result);
  return a;
}

void bind_arithmetic(nb::class_<Var>& t) {
  t.def("__add__", [](const Var& a, const Var& b) { return add(a, b); }, nb::is_operator(), Release())
      .def("__add__", [](const Var& a, double s) { return add(a, s); }, nb::is_operator(), Release())
      .def("__radd__", [](const Var& a, double s) { return add(a, s); }, nb::is_operator(), Release())
      .def("__sub__", [](const Var& a, const Var& b) { return sub(a, b); }, nb::is_operator(), Release())
      .def("__sub__", [](const Var& a, double s) { return add(a, -s); }, nb::is_operator(), Release())
      .def("__rsub__", [](const Var& a, double s) { return add(neg(a), s); }, nb::is_operator(), Release())
      .def("__mul__", [](const Var& a, const Var& b) { return mul(a, b); }, nb::is_operator(), Release())
      .def("__mul__", [](const Var& a, double s) { return mul(a, s); }, nb::is_operator(), Release())
      .def("__rmul__", [](const Var& a, double s) { return mul(a, s); }, nb::is_operator(), Release())
      .def("__truediv__", [](const Var& a, const Var& b) { return div(a, b); }, nb::is_operator(), Release())
      // x / s is x · (1/s), as in loupe's C++ (operator/), so a Python model computes the C++ bits.
      .def("__truediv__", [](const Var& a, double s) { return a / s; }, nb::is_operator(), Release())
      .def("__rtruediv__", [](const Var& a, double s) { return div(scalar_like(s, a), a); }, nb::is_operator(),
           Release())
      .def("__matmul__", [](const Var& a, const Var& b) { return matmul(a, b); }, nb::is_operator(), Release())
      .def("__neg__", [](const Var& a) { return neg(a); }, Release())
      .def("__pow__", [](const Var& a, double p) { return pow(a, p); }, nb::is_operator(), Release())
      .def("__pow__", [](const Var&, const Var&) -> Var {
        throw nb::type_error("x ** y: loupe's pow takes a Python number as its exponent (x ** 3, x ** 0.5)");
      }, nb::is_operator())
      // s ** x = exp(x · ln s), for s > 0.
      .def("__rpow__", [](const Var& a, double s) {
        if (!(s > 0)) throw nb::value_error("s ** x: loupe computes it as exp(x * ln s), so s must be > 0");
        return exp(mul(a, std::log(s)));
      }, nb::is_operator(), Release());
  def_compare<eq>(t, "__eq__");
  def_compare<ne>(t, "__ne__");
  def_compare<lt>(t, "__lt__");
  def_compare<le>(t, "__le__");
  def_compare<gt>(t, "__gt__");
  def_compare<ge>(t, "__ge__");
  t.def("__hash__", [](const Var& a) { return reinterpret_cast<uintptr_t>(a.impl()); });

  t.def("__iadd__", [](Var& a, const Var& b) -> Var& { return inplace(a, add(a.value(), b.value()), "+="); },
        nb::is_operator(), nb::rv_policy::none)
      .def("__iadd__", [](Var& a, double s) -> Var& { return inplace(a, add(a.value(), s), "+="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__isub__", [](Var& a, const Var& b) -> Var& { return inplace(a, sub(a.value(), b.value()), "-="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__isub__", [](Var& a, double s) -> Var& { return inplace(a, add(a.value(), -s), "-="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__imul__", [](Var& a, const Var& b) -> Var& { return inplace(a, mul(a.value(), b.value()), "*="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__imul__", [](Var& a, double s) -> Var& { return inplace(a, mul(a.value(), s), "*="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__itruediv__", [](Var& a, const Var& b) -> Var& { return inplace(a, div(a.value(), b.value()), "/="); },
           nb::is_operator(), nb::rv_policy::none)
      .def("__itruediv__", [](Var& a, double s) -> Var& { return inplace(a, mul(a.value(), 1.0 / s), "/="); },
           nb::is_operator(), nb::rv_policy::none);
}

void bind_inplace(nb::class_<Var>& t) {
  t.def("zero_", [](Var& a) -> Var& {
     check_inplace(a, "zero_");
     a.mutable_value().fill_(0);
     return a;
   }, nb::rv_policy::none)
      .def("fill_", [](Var& a, double v) -> Var& {
        check_inplace(a, "fill_");
        a.mutable_value().fill_(v);
        return a;
      }, nb::rv_policy::none)
      .def("copy_", [](Var& a, const Var& src) -> Var& {
        check_inplace(a, "copy_");
        a.mutable_value().copy_(src.value());
        return a;
      }, nb::rv_policy::none, Release())
      .def("add_", [](Var& a, const Var& b, double alpha) -> Var& {
        check_inplace(a, "add_");
        add_(a.mutable_value(), b.value(), alpha);
        return a;
      }, "other"_a, nb::kw_only(), "alpha"_a = 1.0, nb::rv_policy::none, Release())
      .def("mul_", [](Var& a, double s) -> Var& {
        check_inplace(a, "mul_");
        mul_(a.mutable_value(), s);
        return a;
      }, nb::rv_policy::none);
}

void bind_autograd(nb::class_<Var>& t) {
  t.def_prop_rw("requires_grad", [](const Var& v) { return v.requires_grad(); }, [](Var& v, bool on) {
     if (!v.is_leaf())
       throw nb::value_error("you can only change requires_grad flags of leaf tensors (this one was made by an op); "
                             "use .detach() for a leaf");
     if (on && !is_floating(v.dtype()))
       throw nb::value_error("only tensors of floating point dtype (float32, float64) can require gradients");
     v.set_requires_grad(on);
   })
      .def_prop_rw("grad", [](const Var& v) -> std::optional<Var> {
        if (!v.grad().defined()) return std::nullopt;
        return Var(v.grad());
      }, [](Var& v, std::optional<Var> g) {
        if (!g) return v.zero_grad();
        if (g->shape() != v.shape() || g->dtype() != v.dtype())
          throw nb::value_error(("assigned grad " + g->value().str() + " does not match the tensor " + v.value().str())
                                    .c_str());
        v.mutable_grad() = g->value();
      }, nb::arg("grad").none())
      .def_prop_ro("is_leaf", [](const Var& v) { return v.is_leaf(); })
      .def_prop_ro("grad_fn", [](const Var& v) -> std::optional<std::string> {
        if (v.is_leaf()) return std::nullopt;
        return v.node()->op;
      }, "the name of the op that made this tensor (None for a leaf)")
      .def("backward", [](const Var& v, std::optional<Var> gradient) {
        if (!v.requires_grad())
          throw nb::value_error("element 0 of tensors does not require grad and does not have a grad_fn");
        nb::gil_scoped_release release;
        if (gradient) {
          v.backward(gradient->value());
        } else {
          if (v.numel() != 1) throw loupe::Error("grad can be implicitly created only for scalar outputs; pass gradient=");
          v.backward();
        }
      }, "gradient"_a = nb::none())
      .def("detach", [](const Var& v) { return v.detach(); });
}

void bind_memory(nb::class_<Var>& t) {
  t.def("numpy", [](const Var& v) {
     refuse_export_with_grad(v, "numpy()");
     return as_ndarray<nb::numpy>(v.value());
   }, "a NumPy array sharing this tensor's memory")
      .def("__dlpack__", [](const Var& v, nb::kwargs kw) {
        refuse_export_with_grad(v, "__dlpack__()");
        return nb::cast(as_ndarray<nb::array_api>(v.value())).attr("__dlpack__")(**kw);
      })
      .def("__dlpack_device__", [](const Var&) { return nb::make_tuple(1, 0); })  // kDLCPU, device 0
      .def("data_ptr", [](const Var& v) { return reinterpret_cast<uintptr_t>(v.value().raw_data()); })
      .def("stride", [](const Var& v, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(v.value().stride(*d));
        return shape_tuple(v.value().strides());
      }, "dim"_a = nb::none())
      .def("is_contiguous", [](const Var& v) { return v.value().is_contiguous(); })
      // Parameter(t) and other Python subclasses: an empty handle, then pointed at t's Var.
      .def(nb::init<>())
      .def("_assign", [](Var& self, const Var& other) { self = other; })
      .def("_shares_memory_with", [](const Var& a, const Var& b) { return a.value().shares_storage(b.value()); });
}

}  // namespace

nb::class_<Var> bind_tensor(nb::module_& m) {
  nb::enum_<DType>(m, "dtype", "a tensor's element type: loupe.float32, loupe.float64 or loupe.int64")
      .value("float32", DType::F32)
      .value("float64", DType::F64)
      .value("int64", DType::I64);

  nb::class_<Var> t(m, "Tensor", "an n-dimensional array that records the ops made from it (loupe::Var)");
  t.def_prop_ro("shape", [](const Var& v) { return shape_tuple(v.shape()); })
      .def("size", [](const Var& v, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(v.value().size(*d));
        return shape_tuple(v.shape());
      }, "dim"_a = nb::none())
      .def("dim", &Var::dim)
      .def_prop_ro("ndim", &Var::dim)
      .def("numel", &Var::numel)
      .def_prop_ro("dtype", &Var::dtype)
      .def("item", [](const Var& v) -> nb::object {
        if (v.numel() != 1)
          throw nb::value_error(("a Tensor with " + std::to_string(v.numel()) +
                                 " elements cannot be converted to a Python number").c_str());
        if (v.dtype() == DType::I64) return nb::int_(int64_t(v.item()));
        return nb::float_(v.item());
      })
      .def("__len__", [](const Var& v) {
        if (v.dim() == 0) throw nb::type_error("len() of a 0-d tensor");
        return v.size(0);
      });
  bind_autograd(t);
  bind_memory(t);
  bind_arithmetic(t);
  bind_inplace(t);
  bind_index(t);

  m.def("_from_ndarray", [](const CpuArray& a) { return wrap_ndarray(a); }, "array"_a,
        "a tensor viewing the array's memory (float32/float64/int64, on the CPU, writable)");
  m.def("_empty", [](const Shape& s, DType d) { return Var(Tensor::empty(s, d)); });
  m.def("_full", [](const Shape& s, double v, DType d) { return Var(Tensor::full(s, v, d)); });
  m.def("_arange", [](int64_t n, DType d) { return Var(Tensor::arange(n, d)); });
  m.def("_normal", [](const Shape& s, double mean, double std, uint64_t seed, DType d) {
    return Var(Tensor::normal(s, mean, std, seed, d));
  }, Release());
  m.def("_uniform", [](const Shape& s, double lo, double hi, uint64_t seed, DType d) {
    return Var(Tensor::uniform(s, lo, hi, seed, d));
  }, Release());
  m.def("_leaf", [](const Var& v, bool requires_grad) {
    if (requires_grad && !is_floating(v.dtype()))
      throw nb::value_error("only tensors of floating point dtype (float32, float64) can require gradients");
    return Var(v.value(), requires_grad);
  }, "tensor"_a, "requires_grad"_a);
  return t;
}

}  // namespace loupe::py
