// Elementwise Tensor ops: each is one batch function handed to the loop driver in
// elementwise.h (broadcasting, strides, SIMD rows and threading live there).
#include "tensor/kernels/elementwise.h"

#include <cmath>

#include "tensor/ops.h"

namespace loupe {
namespace kernels {

void check_float_operands(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = *ts.begin();
  for (const Tensor* t : ts) {
    LOUPE_CHECK(t->defined(), op, ": undefined tensor operand");
    LOUPE_CHECK(is_floating(t->dtype()), op, ": needs f32 or f64 operands, got ", t->str());
    LOUPE_CHECK(t->dtype() == first->dtype(), op, ": dtype mismatch: ", first->str(), " vs ", t->str());
  }
}

EwLayout ew_layout(const Shape& shape, const std::vector<Shape>& strides) {
  const size_t nops = strides.size();
  EwLayout L;
  L.strides.resize(nops);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // contributes no iteration
    bool merge = !L.shape.empty();
    for (size_t j = 0; merge && j < nops; ++j) merge = L.strides[j].back() == strides[j][d] * shape[d];
    if (merge) {
      L.shape.back() *= shape[d];
      for (size_t j = 0; j < nops; ++j) L.strides[j].back() = strides[j][d];
    } else {
      L.shape.push_back(shape[d]);
      for (size_t j = 0; j < nops; ++j) L.strides[j].push_back(strides[j][d]);
    }
  }
  if (L.shape.empty()) {  // a single element: out stride 1, inputs broadcast
    L.shape.push_back(1);
    for (size_t j = 0; j < nops; ++j) L.strides[j].push_back(j == 0 ? 1 : 0);
  }
  return L;
}

}  // namespace kernels

using kernels::map1;
using kernels::map2;
using kernels::splat;

// ---------------------------------------------------------------- unary
Tensor neg(const Tensor& x) {
  return map1("neg", x, [](auto v) { return -v; });
}
Tensor exp(const Tensor& x) {
  return map1("exp", x, [](auto v) { return xsimd::exp(v); });
}
Tensor log(const Tensor& x) {
  return map1("log", x, [](auto v) { return xsimd::log(v); });
}
Tensor sqrt(const Tensor& x) {
  return map1("sqrt", x, [](auto v) { return xsimd::sqrt(v); });
}
Tensor rsqrt(const Tensor& x) {  // 1/sqrt(x), computed exactly rounded rather than with the approximate rsqrt
  return map1("rsqrt", x, [](auto v) { return splat<decltype(v)>(1) / xsimd::sqrt(v); });
}
Tensor tanh(const Tensor& x) {
  return map1("tanh", x, [](auto v) { return xsimd::tanh(v); });
}
// sigmoid(x) = 1 / (1 + e^-x): for x -> -inf, e^-x = inf and the quotient is a clean 0.
Tensor sigmoid(const Tensor& x) {
  return map1("sigmoid", x, [](auto v) {
    using B = decltype(v);
    return splat<B>(1) / (splat<B>(1) + xsimd::exp(-v));
  });
}
Tensor relu(const Tensor& x) {
  return map1("relu", x, [](auto v) { return xsimd::max(v, splat<decltype(v)>(0)); });
}
// gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2);
// the erfc form avoids the cancellation in 1 + erf for negative x.
Tensor gelu(const Tensor& x) {
  return map1("gelu", x, [](auto v) {
    using B = decltype(v);
    return splat<B>(0.5) * v * xsimd::erfc(v * splat<B>(-M_SQRT1_2));
  });
}
// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (GPT-2's approximation).
Tensor gelu_tanh(const Tensor& x) {
  return map1("gelu_tanh", x, [](auto v) {
    using B = decltype(v);
    const B u = splat<B>(0.7978845608028654) * (v + splat<B>(0.044715) * v * v * v);
    return splat<B>(0.5) * v * (splat<B>(1) + xsimd::tanh(u));
  });
}
// silu(x) = x * sigmoid(x) = x / (1 + e^-x).
Tensor silu(const Tensor& x) {
  return map1("silu", x, [](auto v) {
    using B = decltype(v);
    return v / (splat<B>(1) + xsimd::exp(-v));
  });
}
Tensor sin(const Tensor& x) {
  return map1("sin", x, [](auto v) { return xsimd::sin(v); });
}
Tensor cos(const Tensor& x) {
  return map1("cos", x, [](auto v) { return xsimd::cos(v); });
}
Tensor abs(const Tensor& x) {
  return map1("abs", x, [](auto v) { return xsimd::abs(v); });
}
// x^p. Common exponents are exact products; the general case is exp(p log|x|) with the
// sign restored for odd integer p (and NaN for negative x with non-integer p), as std::pow.
Tensor pow(const Tensor& x, double p) {
  if (p == 1) return map1("pow", x, [](auto v) { return v; });
  if (p == 2) return map1("pow", x, [](auto v) { return v * v; });
  if (p == 3) return map1("pow", x, [](auto v) { return v * v * v; });
  if (p == 0.5) return map1("pow", x, [](auto v) { return xsimd::sqrt(v); });
  if (p == -1) return map1("pow", x, [](auto v) { return splat<decltype(v)>(1) / v; });
  if (p == 0) return map1("pow", x, [](auto v) { return splat<decltype(v)>(1); });
  return map1("pow", x, [p](auto v) {
    using B = decltype(v);
    const B r = xsimd::pow(v, splat<B>(p));
    // xsimd gives 0 for 0^p; for p < 0 the answer is +inf.
    return p < 0 ? xsimd::select(v == splat<B>(0), splat<B>(INFINITY), r) : r;
  });
}

// ---------------------------------------------------------------- binary, broadcasting
Tensor add(const Tensor& a, const Tensor& b) {
  return map2("add", a, b, [](auto x, auto y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return map2("sub", a, b, [](auto x, auto y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return map2("mul", a, b, [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return map2("div", a, b, [](auto x, auto y) { return x / y; });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return map2("maximum", a, b, [](auto x, auto y) { return xsimd::max(x, y); });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return map2("minimum", a, b, [](auto x, auto y) { return xsimd::min(x, y); });
}
Tensor add(const Tensor& a, double s) {
  return map1("add", a, [s](auto x) { return x + splat<decltype(x)>(s); });
}
Tensor mul(const Tensor& a, double s) {
  return map1("mul", a, [s](auto x) { return x * splat<decltype(x)>(s); });
}

// ---------------------------------------------------------------- comparisons: 1 or 0
#define LOUPE_COMPARE(name, expr)                                                                 \
  Tensor name(const Tensor& a, const Tensor& b) {                                                 \
    return map2(#name, a, b, [](auto x, auto y) {                                                 \
      using B = decltype(x);                                                                      \
      return xsimd::select(expr, splat<B>(1), splat<B>(0));                                       \
    });                                                                                           \
  }
LOUPE_COMPARE(eq, x == y)
LOUPE_COMPARE(ne, x != y)
LOUPE_COMPARE(lt, x < y)
LOUPE_COMPARE(le, x <= y)
LOUPE_COMPARE(gt, x > y)
LOUPE_COMPARE(ge, x >= y)
#undef LOUPE_COMPARE

// where(cond, a, b): cond may be of any dtype (non-zero = true); it is cast to a's dtype first.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  LOUPE_CHECK(cond.defined(), "where: undefined condition");
  const Tensor c = is_floating(a.dtype()) ? cond.to(a.dtype()) : cond;
  return kernels::map3("where", c, a, b, [](auto m, auto x, auto y) {
    return xsimd::select(m != splat<decltype(m)>(0), x, y);
  });
}

// ---------------------------------------------------------------- in place
void add_(Tensor& dst, const Tensor& src, double alpha) {
  kernels::check_float_operands("add_", {&dst, &src});
  broadcast_strides(src, dst.shape());  // throws when src does not broadcast to dst
  LOUPE_DISPATCH(dst.dtype(), T, {
    const T al = T(alpha);
    if (alpha == 1)
      kernels::ew_run<T, 2>(dst, {&dst, &src}, [](auto d, auto s) { return d + s; });
    else
      kernels::ew_run<T, 2>(dst, {&dst, &src}, [al](auto d, auto s) { return xsimd::fma(decltype(d)(al), s, d); });
  });
}

void mul_(Tensor& dst, double s) {
  kernels::check_float_operands("mul_", {&dst});
  LOUPE_DISPATCH(dst.dtype(), T, {
    const T st = T(s);
    kernels::ew_run<T, 1>(dst, {&dst}, [st](auto d) { return d * decltype(d)(st); });
  });
}

}  // namespace loupe
