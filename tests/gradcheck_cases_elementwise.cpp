// Gradcheck cases for the elementwise ops (autograd/ops/elementwise.cpp): every op,
// broadcast shapes, transposed (strided) inputs, and the tie/kink conventions.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using namespace loupe;
using loupe::testing::rand64;
using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// One [3, 5] input in [lo, hi).
auto in1(double lo = -1, double hi = 1, uint64_t seed = 7) {
  return [=] { return Ts{rand64({3, 5}, seed, lo, hi)}; };
}

// ---- unary
LOUPE_GRADCHECK_CASE("neg", "3x5", in1(), [](const Vs& v) { return neg(v[0]); });
LOUPE_GRADCHECK_CASE("exp", "3x5", in1(-2, 2), [](const Vs& v) { return exp(v[0]); });
LOUPE_GRADCHECK_CASE("exp", "transposed", in1(-2, 2), [](const Vs& v) { return exp(transpose(v[0], 0, 1)); });
LOUPE_GRADCHECK_CASE("log", "positive", in1(0.2, 3), [](const Vs& v) { return log(v[0]); });
LOUPE_GRADCHECK_CASE("sqrt", "positive", in1(0.2, 3), [](const Vs& v) { return sqrt(v[0]); });
LOUPE_GRADCHECK_CASE("rsqrt", "positive", in1(0.2, 3), [](const Vs& v) { return rsqrt(v[0]); });
LOUPE_GRADCHECK_CASE("tanh", "3x5", in1(-2, 2), [](const Vs& v) { return tanh(v[0]); });
LOUPE_GRADCHECK_CASE("sigmoid", "3x5", in1(-4, 4), [](const Vs& v) { return sigmoid(v[0]); });
LOUPE_GRADCHECK_CASE("relu", "3x5 (no exact zeros)", in1(-1, 1), [](const Vs& v) { return relu(v[0]); });
LOUPE_GRADCHECK_CASE("gelu", "3x5", in1(-3, 3), [](const Vs& v) { return gelu(v[0]); });
LOUPE_GRADCHECK_CASE("gelu_tanh", "3x5", in1(-3, 3), [](const Vs& v) { return gelu_tanh(v[0]); });
LOUPE_GRADCHECK_CASE("silu", "3x5", in1(-4, 4), [](const Vs& v) { return silu(v[0]); });
LOUPE_GRADCHECK_CASE("sin", "3x5", in1(-3, 3), [](const Vs& v) { return sin(v[0]); });
LOUPE_GRADCHECK_CASE("cos", "transposed", in1(-3, 3), [](const Vs& v) { return cos(transpose(v[0], 0, 1)); });
LOUPE_GRADCHECK_CASE("abs", "3x5", in1(), [](const Vs& v) { return abs(v[0]); });
// |x| at exactly 0: the central difference is (eps - eps) / 2eps = 0, the convention we use.
LOUPE_GRADCHECK_CASE("abs", "at zero", [] { return Ts{Tensor::from_vector({0.0, -0.5, 0.0, 2.0}, {4}, DType::F64)}; },
                     [](const Vs& v) { return abs(v[0]); });
LOUPE_GRADCHECK_CASE("pow", "p=3 signed", in1(), [](const Vs& v) { return pow(v[0], 3); });
LOUPE_GRADCHECK_CASE("pow", "p=2.5 positive", in1(0.2, 2), [](const Vs& v) { return pow(v[0], 2.5); });
LOUPE_GRADCHECK_CASE("pow", "p=-1.5 positive", in1(0.5, 2), [](const Vs& v) { return pow(v[0], -1.5); });
LOUPE_GRADCHECK_CASE("pow", "p=0", in1(), [](const Vs& v) { return pow(v[0], 0); });

// ---- binary with broadcasting
auto in2(Shape a, Shape b, double lo = -1, double hi = 1) {
  return [=] { return Ts{rand64(a, 11, -1, 1), rand64(b, 12, lo, hi)}; };
}
LOUPE_GRADCHECK_CASE("add", "[2,3,4]+[4]", in2({2, 3, 4}, {4}), [](const Vs& v) { return add(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("add", "[3,1]+[2,1,4] both broadcast", in2({3, 1}, {2, 1, 4}),
                     [](const Vs& v) { return v[0] + v[1]; });
LOUPE_GRADCHECK_CASE("sub", "[2,3,4]-[3,1]", in2({2, 3, 4}, {3, 1}), [](const Vs& v) { return v[0] - v[1]; });
LOUPE_GRADCHECK_CASE("mul", "[2,3,4]*[2,3,1]", in2({2, 3, 4}, {2, 3, 1}), [](const Vs& v) { return v[0] * v[1]; });
LOUPE_GRADCHECK_CASE("mul", "transposed * transposed", in2({3, 4}, {4, 3}),
                     [](const Vs& v) { return transpose(v[0], 0, 1) * v[1]; });
LOUPE_GRADCHECK_CASE("mul", "x*x same var", in1(), [](const Vs& v) { return v[0] * v[0]; });
LOUPE_GRADCHECK_CASE("div", "[2,3,4]/[4] (b in [0.5,2])", in2({2, 3, 4}, {4}, 0.5, 2),
                     [](const Vs& v) { return v[0] / v[1]; });
LOUPE_GRADCHECK_CASE("div", "[4]/[2,3,4] transposed", in2({4}, {2, 4, 3}, 0.5, 2),
                     [](const Vs& v) { return v[0] / transpose(v[1], 1, 2); });
LOUPE_GRADCHECK_CASE("maximum", "[3,4] vs [4]", in2({3, 4}, {4}), [](const Vs& v) { return maximum(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("minimum", "[3,4] vs [3,1]", in2({3, 4}, {3, 1}), [](const Vs& v) { return minimum(v[0], v[1]); });
// Ties: maximum(a, a') with a == a' elementwise. The central difference in either input is
// ((x+eps) - x) / 2eps = 1/2, which is exactly the half/half split convention.
auto ties = [] {
  Tensor a = rand64({2, 3}, 5);
  return Ts{a, a.clone()};
};
LOUPE_GRADCHECK_CASE("maximum", "ties split half/half", ties, [](const Vs& v) { return maximum(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("minimum", "ties split half/half", ties, [](const Vs& v) { return minimum(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("add_scalar", "x + 2.5", in1(), [](const Vs& v) { return v[0] + 2.5; });
LOUPE_GRADCHECK_CASE("mul_scalar", "x * -1.5 (transposed)", in1(),
                     [](const Vs& v) { return transpose(v[0], 0, 1) * -1.5; });
// cond [3,1] broadcast against a [3,4] and b [4].
LOUPE_GRADCHECK_CASE("where", "broadcast cond/a/b", in2({3, 4}, {4}), [](const Vs& v) {
  const Tensor cond = Tensor::from_vector({1.0, 0.0, 1.0}, {3, 1}, DType::F64);
  return where(cond, v[0], v[1]);
});
// A same-dtype cast of a transposed view, weighted element by element: a backward that loses the
// view's strides or the weights' positions fails (cast(x) * x could not: it is symmetric).
LOUPE_GRADCHECK_CASE("cast", "f64 -> f64 of a transposed view, weighted", in1(), [](const Vs& v) {
  return cast(transpose(v[0], 0, 1), DType::F64) * Var(rand64({5, 3}, 11, 0.5, 2.0));
});
// Through f32 and back: differences are only good to f32 precision, hence the looser tolerances.
LOUPE_GRADCHECK_CASE("cast", "f64 -> f32 -> f64", in1(), [](const Vs& v) { return cast(cast(v[0], DType::F32), DType::F64); },
                     GradcheckOptions{.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3});
}  // namespace
