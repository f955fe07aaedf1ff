// Elementwise ops on Vars: each forward next to its backward. Binary ops broadcast,
// so their backward sums each input's gradient back to that input's shape.
// Fused backward formulas run through the same SIMD loop driver as the forward.
#include <cmath>

#include "autograd/ops.h"
#include "tensor/kernels/elementwise.h"

namespace loupe {

using kernels::map2;
using kernels::splat;
using Grads = std::vector<Tensor>;

// grad_map(op, g, y, f): the backward formula f(g, y) of a unary op, elementwise. When the
// incoming gradient g is a contiguous tensor nothing else holds (the engine hands it over) and
// y has its shape and dtype, the result is written over g's own memory rather than into a
// fresh tensor (one buffer less to fill from cold memory). Not while op hooks watch: they are
// shown the incoming gradient after the backward ran.
template <typename F>
static Tensor grad_map(const char* op, const Tensor& g, const Tensor& y, F f) {
  if (g.storage().use_count() == 1 && g.is_contiguous() && g.shape() == y.shape() && g.dtype() == y.dtype() &&
      is_floating(g.dtype()) && !op_hooks_active()) {
    LOUPE_DISPATCH(g.dtype(), T, { kernels::ew_run<T, 2>(g, {&g, &y}, f); });
    return g;
  }
  return map2(op, g, y, f);
}

// ---------------------------------------------------------------- unary
LOUPE_REGISTER_OP("neg");
Var neg(const Var& x) {  // d(-x) = -1
  return make_result("neg", neg(x.value()), {x}, [](const Tensor& g) { return Grads{neg(g)}; });
}

LOUPE_REGISTER_OP("exp");
Var exp(const Var& x) {  // d e^x = e^x = y
  Tensor y = exp(x.value());
  return make_result("exp", y, {x}, [y](const Tensor& g) { return Grads{mul(g, y)}; });
}

LOUPE_REGISTER_OP("log");
Var log(const Var& x) {  // d log x = 1/x
  Tensor xv = x.value();
  return make_result("log", log(xv), {x}, [xv](const Tensor& g) { return Grads{div(g, xv)}; });
}

LOUPE_REGISTER_OP("sqrt");
Var sqrt(const Var& x) {  // d sqrt(x) = 1 / (2 y)
  Tensor y = sqrt(x.value());
  return make_result("sqrt", y, {x}, [y](const Tensor& g) {
    return Grads{grad_map("sqrt_backward", g, y, [](auto g, auto y) { return splat<decltype(g)>(0.5) * g / y; })};
  });
}

LOUPE_REGISTER_OP("rsqrt");
Var rsqrt(const Var& x) {  // y = x^-1/2, dy/dx = -1/2 x^-3/2 = -y^3 / 2
  Tensor y = rsqrt(x.value());
  return make_result("rsqrt", y, {x}, [y](const Tensor& g) {
    return Grads{grad_map("rsqrt_backward", g, y, [](auto g, auto y) { return splat<decltype(g)>(-0.5) * g * y * y * y; })};
  });
}

LOUPE_REGISTER_OP("tanh");
Var tanh(const Var& x) {  // d tanh = 1 - y^2
  Tensor y = tanh(x.value());
  return make_result("tanh", y, {x}, [y](const Tensor& g) {
    return Grads{grad_map("tanh_backward", g, y, [](auto g, auto y) { return g * (splat<decltype(g)>(1) - y * y); })};
  });
}

LOUPE_REGISTER_OP("sigmoid");
Var sigmoid(const Var& x) {  // d sigmoid = y (1 - y)
  Tensor y = sigmoid(x.value());
  return make_result("sigmoid", y, {x}, [y](const Tensor& g) {
    return Grads{grad_map("sigmoid_backward", g, y, [](auto g, auto y) { return g * y * (splat<decltype(g)>(1) - y); })};
  });
}

LOUPE_REGISTER_OP("relu");
Var relu(const Var& x) {  // d relu = 1 where x > 0, else 0 (also at 0)
  Tensor xv = x.value();
  return make_result("relu", relu(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("relu_backward", g, xv, [](auto g, auto x) {
      using B = decltype(g);
      return xsimd::select(x > splat<B>(0), g, splat<B>(0));
    })};
  });
}

LOUPE_REGISTER_OP("gelu");
Var gelu(const Var& x) {  // d [x Phi(x)] = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
  Tensor xv = x.value();
  return make_result("gelu", gelu(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("gelu_backward", g, xv, [](auto g, auto x) {
      using B = decltype(g);
      const B Phi = splat<B>(0.5) * xsimd::erfc(x * splat<B>(-M_SQRT1_2));  // erfc: no cancellation for x < 0
      const B phi = splat<B>(0.3989422804014327) * xsimd::exp(splat<B>(-0.5) * x * x);
      return g * (Phi + x * phi);
    })};
  });
}

LOUPE_REGISTER_OP("gelu_tanh");
// y = x/2 (1 + t), t = tanh(u), u = k (x + c x^3):
// dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)
Var gelu_tanh(const Var& x) {
  Tensor xv = x.value();
  return make_result("gelu_tanh", gelu_tanh(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("gelu_tanh_backward", g, xv, [](auto g, auto x) {
      using B = decltype(g);
      const B k = splat<B>(0.7978845608028654), c = splat<B>(0.044715), half = splat<B>(0.5), one = splat<B>(1);
      const B x2 = x * x;
      const B t = xsimd::tanh(k * (x + c * x2 * x));
      return g * (half * (one + t) + half * x * (one - t * t) * k * (one + splat<B>(3) * c * x2));
    })};
  });
}

LOUPE_REGISTER_OP("silu");
Var silu(const Var& x) {  // d [x s(x)] = s + x s (1 - s)
  Tensor xv = x.value();
  return make_result("silu", silu(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("silu_backward", g, xv, [](auto g, auto x) {
      using B = decltype(g);
      const B s = splat<B>(1) / (splat<B>(1) + xsimd::exp(-x));
      return g * s * (splat<B>(1) + x * (splat<B>(1) - s));
    })};
  });
}

LOUPE_REGISTER_OP("sin");
Var sin(const Var& x) {  // d sin = cos
  Tensor xv = x.value();
  return make_result("sin", sin(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("sin_backward", g, xv, [](auto g, auto x) { return g * xsimd::cos(x); })};
  });
}

LOUPE_REGISTER_OP("cos");
Var cos(const Var& x) {  // d cos = -sin
  Tensor xv = x.value();
  return make_result("cos", cos(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("cos_backward", g, xv, [](auto g, auto x) { return -g * xsimd::sin(x); })};
  });
}

LOUPE_REGISTER_OP("abs");
Var abs(const Var& x) {  // d |x| = sign(x), taken as 0 at x = 0
  Tensor xv = x.value();
  return make_result("abs", abs(xv), {x}, [xv](const Tensor& g) {
    return Grads{grad_map("abs_backward", g, xv, [](auto g, auto x) {
      using B = decltype(g);
      const B zero = splat<B>(0);
      return xsimd::select(x > zero, g, xsimd::select(x < zero, -g, zero));
    })};
  });
}

LOUPE_REGISTER_OP("pow");
Var pow(const Var& x, double p) {  // d x^p = p x^(p-1)
  Tensor xv = x.value();
  return make_result("pow", pow(xv, p), {x}, [xv, p](const Tensor& g) {
    if (p == 0) return Grads{Tensor::zeros(xv.shape(), xv.dtype())};
    return Grads{mul(mul(g, pow(xv, p - 1)), p)};
  });
}

// ---------------------------------------------------------------- binary, broadcasting
LOUPE_REGISTER_OP("add");
Var add(const Var& a, const Var& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return make_result("add", add(a.value(), b.value()), {a, b},
                     [sa, sb](const Tensor& g) { return Grads{sum_to_shape(g, sa), sum_to_shape(g, sb)}; });
}

LOUPE_REGISTER_OP("sub");
Var sub(const Var& a, const Var& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return make_result("sub", sub(a.value(), b.value()), {a, b},
                     [sa, sb](const Tensor& g) { return Grads{sum_to_shape(g, sa), neg(sum_to_shape(g, sb))}; });
}

LOUPE_REGISTER_OP("mul");
Var mul(const Var& a, const Var& b) {  // d(ab) = b da + a db
  Tensor av = a.value(), bv = b.value();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return make_result("mul", mul(av, bv), {a, b}, [av, bv, ga, gb](const Tensor& g) {
    Tensor da = ga ? sum_to_shape(mul(g, bv), av.shape()) : Tensor();  // reads g before g a may overwrite it
    Tensor db = gb ? sum_to_shape(grad_map("mul_backward", g, av, [](auto g, auto a) { return g * a; }), bv.shape())
                   : Tensor();
    return Grads{da, db};
  });
}

LOUPE_REGISTER_OP("div");
Var div(const Var& a, const Var& b) {  // d(a/b) = da / b - a db / b^2
  Tensor av = a.value(), bv = b.value();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return make_result("div", div(av, bv), {a, b}, [av, bv, ga, gb](const Tensor& g) {
    Tensor gb_full;
    if (gb)
      gb_full = kernels::map3("div_backward", g, av, bv, [](auto g, auto a, auto b) { return -g * a / (b * b); });
    return Grads{ga ? sum_to_shape(div(g, bv), av.shape()) : Tensor(), gb ? sum_to_shape(gb_full, bv.shape()) : Tensor()};
  });
}

// maximum/minimum: the gradient goes to the chosen input; on ties (a == b) it is split
// half and half, so the two shares still add up to g (as PyTorch does).
static Var extremum(const char* op, const Var& a, const Var& b, bool is_max) {
  Tensor av = a.value(), bv = b.value();
  Tensor out = is_max ? maximum(av, bv) : minimum(av, bv);
  return make_result(op, out, {a, b}, [av, bv, is_max](const Tensor& g) {
    // share of a: 1 where a wins, 1/2 on ties, 0 where b wins
    Tensor wa = kernels::map3("extremum_backward", g, av, bv, [is_max](auto g, auto a, auto b) {
      using B = decltype(g);
      const auto wins = is_max ? (a > b) : (a < b);
      return xsimd::select(wins, g, xsimd::select(a == b, splat<B>(0.5) * g, splat<B>(0)));
    });
    Tensor wb = sub(g, wa);  // b gets the rest (g - a's share), exact for the 1, 1/2, 0 shares
    return Grads{sum_to_shape(wa, av.shape()), sum_to_shape(wb, bv.shape())};
  });
}
LOUPE_REGISTER_OP("maximum");
Var maximum(const Var& a, const Var& b) { return extremum("maximum", a, b, true); }
LOUPE_REGISTER_OP("minimum");
Var minimum(const Var& a, const Var& b) { return extremum("minimum", a, b, false); }

LOUPE_REGISTER_OP("add_scalar");
Var add(const Var& a, double s) {
  return make_result("add_scalar", add(a.value(), s), {a}, [](const Tensor& g) { return Grads{g}; });
}

LOUPE_REGISTER_OP("mul_scalar");
Var mul(const Var& a, double s) {
  return make_result("mul_scalar", mul(a.value(), s), {a}, [s](const Tensor& g) { return Grads{mul(g, s)}; });
}

LOUPE_REGISTER_OP("where");
// where(cond, a, b): the gradient flows to a where cond != 0, to b elsewhere.
Var where(const Tensor& cond, const Var& a, const Var& b) {
  const Shape sa = a.shape(), sb = b.shape();
  Tensor out = where(cond, a.value(), b.value());
  return make_result("where", out, {a, b}, [cond, sa, sb](const Tensor& g) {
    const Tensor zero = Tensor::zeros({}, g.dtype());
    return Grads{sum_to_shape(where(cond, g, zero), sa), sum_to_shape(where(cond, zero, g), sb)};
  });
}

LOUPE_REGISTER_OP("cast");
Var cast(const Var& x, DType dtype) {  // the gradient is cast back to the input's dtype
  LOUPE_CHECK(is_floating(dtype), "cast: a differentiable cast needs a floating dtype, got ", dtype_name(dtype));
  const DType from = x.dtype();
  return make_result("cast", x.value().to(dtype), {x}, [from](const Tensor& g) { return Grads{g.to(from)}; });
}

}  // namespace loupe
