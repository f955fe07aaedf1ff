// Var-level views, elementwise and reduction ops: forwards share storage where the
// Tensor view does, backwards land gradients in the right places (checked by hand
// here; gradcheck_cases_* check them numerically), tie conventions, thread-count
// determinism of a whole backward pass, and misuse errors.
#include "autograd/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;
using loupe::testing::rand64;

namespace {
// x.grad after backpropagating `seed` through f(x).
Tensor grad_of(const Tensor& x0, const std::function<Var(const Var&)>& f, const Tensor& seed) {
  Var x(x0.clone(), true);
  f(x).backward(seed);
  return x.grad();
}
Tensor f64(std::vector<double> v, Shape s) { return Tensor::from_vector(v, s, DType::F64); }
}  // namespace

TEST(ViewsAutograd, ForwardsAreViews) {
  Var x(rand64({2, 3, 4}, 1), true);
  const Tensor& xv = x.value();
  auto shares = [&](const Var& y) { return y.value().shares_storage(xv); };
  EXPECT_TRUE(shares(reshape(x, {6, 4})));
  EXPECT_TRUE(shares(permute(x, {2, 0, 1})));
  EXPECT_TRUE(shares(transpose(x, 0, 2)));
  EXPECT_TRUE(shares(narrow(x, 2, 1, 2)));
  EXPECT_TRUE(shares(slice(x, 1, 0, 3, 2)));
  EXPECT_TRUE(shares(select(x, 0, 1)));
  EXPECT_TRUE(shares(expand(unsqueeze(x, 0), {5, 2, 3, 4})));
  EXPECT_TRUE(shares(squeeze(unsqueeze(x, 1), 1)));
  EXPECT_TRUE(shares(contiguous(x)));  // already contiguous: no copy
  EXPECT_FALSE(shares(contiguous(transpose(x, 0, 1))));
  EXPECT_TRUE(contiguous(transpose(x, 0, 1)).value().is_contiguous());
  EXPECT_FALSE(shares(reshape(transpose(x, 0, 1), {24})));  // not viewable: reshape copies, as Tensor does
  EXPECT_EQ(narrow(x, 2, 1, 2).value().at({1, 2, 0}), xv.at({1, 2, 1}));
}

TEST(ViewsAutograd, BackwardPlacesGradients) {
  const Tensor x = rand64({3, 4}, 2);
  // narrow: the seed lands in columns 1..2, zeros elsewhere.
  const Tensor g = grad_of(x, [](const Var& v) { return narrow(v, 1, 1, 2); }, f64({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0}));
  // slice with step 2 over rows.
  const Tensor gs = grad_of(x, [](const Var& v) { return slice(v, 0, 0, 3, 2); }, Tensor::ones({2, 4}, DType::F64));
  EXPECT_EQ(gs.to_vector(), (std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}));
  // select with a negative index.
  const Tensor gsel = grad_of(x, [](const Var& v) { return select(v, 1, -1); }, f64({7, 8, 9}, {3}));
  EXPECT_EQ(gsel.to_vector(), (std::vector<double>{0, 0, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9}));
  // permute: the inverse permutation brings the seed back.
  const Tensor x3 = rand64({2, 3, 4}, 3);
  const Tensor seed3 = rand64({4, 2, 3}, 4);
  const Tensor gp = grad_of(x3, [](const Var& v) { return permute(v, {2, 0, 1}); }, seed3);
  EXPECT_TRUE(bitwise_equal(gp.contiguous(), seed3.permute({1, 2, 0}).contiguous()));
  // expand: sums over the broadcast dims.
  const Tensor ge = grad_of(f64({1, 2}, {2, 1}), [](const Var& v) { return expand(v, {3, 2, 4}); },
                            Tensor::ones({3, 2, 4}, DType::F64));
  EXPECT_EQ(ge.to_vector(), (std::vector<double>{12, 12}));
  // squeeze / unsqueeze with negative dims restore the shape.
  EXPECT_EQ(grad_of(rand64({3, 1, 2}, 5), [](const Var& v) { return squeeze(v, -2); }, Tensor::ones({3, 2}, DType::F64))
                .shape(),
            (Shape{3, 1, 2}));
  EXPECT_EQ(
      grad_of(x, [](const Var& v) { return unsqueeze(v, -1); }, Tensor::ones({3, 4, 1}, DType::F64)).shape(),
      (Shape{3, 4}));
}

TEST(ViewsAutograd, BroadcastBackwardSumsToInputShapes) {
  // y = a[B,T,C] * b[C]: db = sum over B,T of g * a; da = g * b.
  Var a(rand64({2, 3, 5}, 6), true), b(rand64({5}, 7), true);
  const Tensor g = rand64({2, 3, 5}, 8);
  mul(a, b).backward(g);
  EXPECT_TRUE(all_close(b.grad(), sum(mul(g, a.value()), {0, 1}), 1e-14, 1e-14));
  EXPECT_TRUE(all_close(a.grad(), mul(g, b.value()), 0, 0));
  // [B,T,C] / [B,T,1]: the divisor's gradient has shape [B,T,1].
  Var c(rand64({2, 3, 1}, 9, 0.5, 2), true);
  div(a, c).backward(g);
  EXPECT_EQ(c.grad().shape(), (Shape{2, 3, 1}));
}

TEST(ViewsAutograd, TieAndKinkConventions) {
  // maximum/minimum ties: half each.
  Var a(f64({1, 2, 3}, {3}), true), b(f64({1, 5, 0}, {3}), true);
  maximum(a, b).backward(Tensor::ones({3}, DType::F64));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0.5, 0, 1}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{0.5, 1, 0}));
  // amax with three ties: split in thirds; amin picks the single minimum.
  Var x(f64({2, 2, 1, 2}, {4}), true);
  amax(x).backward();
  EXPECT_TRUE(all_close(x.grad(), f64({1.0 / 3, 1.0 / 3, 0, 1.0 / 3}, {4}), 1e-15, 0));
  x.zero_grad();
  amin(x).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 1, 0}));
  // abs and relu at exactly 0: gradient 0.
  Var z(f64({0, -2, 3}, {3}), true);
  abs(z).backward(Tensor::ones({3}, DType::F64));
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, -1, 1}));
  z.zero_grad();
  relu(z).backward(Tensor::ones({3}, DType::F64));
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, 0, 1}));
}

TEST(ViewsAutograd, VarForwardsMatchTensorOps) {
  const Tensor t = Tensor::uniform({4, 5}, 0.1, 2, 10);
  Var x(t, true);
  EXPECT_TRUE(bitwise_equal(gelu(x).value(), gelu(t)));
  EXPECT_TRUE(bitwise_equal(var(x, {1}, true, 0).value(), var(t, {1}, true, 0)));
  EXPECT_TRUE(bitwise_equal(amax(x, {0}).value(), amax(t, {0})));
  EXPECT_TRUE(bitwise_equal((x * 2.0 + 1.0).value(), add(mul(t, 2.0), 1.0)));
  // cast keeps the graph: the f64 gradient comes back as f32.
  Var y = cast(x, DType::F64);
  EXPECT_EQ(y.dtype(), DType::F64);
  sum(y).backward();
  EXPECT_EQ(x.grad().dtype(), DType::F32);
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(20, 1.0));
}

TEST(ViewsAutograd, BackwardOneVsTwoThreadsBitwiseEqual) {
  auto run = [] {
    Var x(Tensor::uniform({64, 515}, -1, 1, 11), true), w(Tensor::uniform({515}, -1, 1, 12), true);
    Var h = gelu(x * w + 0.5);
    Var loss = mean(var(transpose(h, 0, 1), {1})) + sum(amax(narrow(h, 1, 3, 500), {0}) * sigmoid(narrow(select(h, 0, 1), 0, 0, 500)));
    loss.backward();
    return std::vector<Tensor>{loss.value(), x.grad(), w.grad()};
  };
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << "result " << i;
}

TEST(ViewsAutograd, MisuseThrows) {
  Var x(rand64({2, 3}, 13), true);
  try {
    reshape(x, {4, 2});
    FAIL() << "bad reshape must throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("reshape"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  }
  EXPECT_THROW(select(x, 0, 2), Error);
  EXPECT_THROW(narrow(x, 1, 2, 2), Error);
  EXPECT_THROW(expand(x, {4, 3}), Error);
  EXPECT_THROW(squeeze(x, 0), Error);
  EXPECT_THROW(permute(x, {0}), Error);
  EXPECT_THROW(x + Var(rand64({4}, 14)), Error);
  EXPECT_THROW(sum(x, {5}), Error);
  EXPECT_THROW(x * Var(Tensor::ones({3})), Error);  // f64 * f32
}

// A unary op's backward (and mul's, for its second input) may write over an incoming gradient
// nothing else holds (here the fresh g·w from the outer mul). The result must equal the
// out-of-place one, which is what runs while an op hook watches, and the derivative by central
// differences; the seed the caller holds is never written.
TEST(ViewsAutograd, UnaryBackwardOverIncomingGradientMatchesFreshResult) {
  const std::vector<std::pair<const char*, std::function<Var(const Var&)>>> acts = {
      {"gelu", [](const Var& v) { return gelu(v); }},   {"silu", [](const Var& v) { return silu(v); }},
      {"tanh", [](const Var& v) { return tanh(v); }},   {"sigmoid", [](const Var& v) { return sigmoid(v); }},
      {"gelu_tanh", [](const Var& v) { return gelu_tanh(v); }},
      {"mul (x·x)", [](const Var& v) { return mul(v, v); }},  // da from g, then db over g
      {"mul (x·c)", [](const Var& v) { return mul(Var(Tensor::full(v.shape(), 1.5, v.dtype())), v); }}};
  const Tensor x0 = rand64({37, 19}, 5, -3, 3), w0 = rand64({37, 19}, 6), seed = rand64({37, 19}, 7);
  const Tensor seed_copy = seed.clone();
  for (const DType dt : {DType::F32, DType::F64}) {
    for (auto& [name, act] : acts) {
      auto run = [&] {
        Var x(x0.to(dt), true);
        Var w(w0.to(dt), false);
        mul(act(x), w).backward(seed.to(dt));
        return x.grad();
      };
      const Tensor reused = run();
      const int id = add_op_hook([](const OpEvent&) {});  // while a hook watches: fresh tensors
      const Tensor fresh = run();
      remove_op_hook(id);
      EXPECT_TRUE(bitwise_equal(reused, fresh)) << name;
      // Against the derivative by central differences of the forward, in f64.
      if (dt == DType::F64) {
        const double h = 1e-6;
        Tensor num = Tensor::empty(x0.shape(), DType::F64);
        for (int64_t i = 0; i < x0.numel(); ++i) {
          Tensor xp = x0.clone(), xm = x0.clone();
          xp.data<double>()[i] += h, xm.data<double>()[i] -= h;
          const double d = (act(Var(xp)).value().data<double>()[i] - act(Var(xm)).value().data<double>()[i]) / (2 * h);
          num.data<double>()[i] = d * w0.data<double>()[i] * seed.data<double>()[i];
        }
        EXPECT_TRUE(all_close(reused, num, 1e-6, 1e-8)) << name;
      }
    }
  }
  EXPECT_TRUE(bitwise_equal(seed, seed_copy));
}
