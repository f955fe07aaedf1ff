// mlp_xor: a 2-layer MLP learns XOR with plain SGD, using only Var ops.
//   h = tanh(X W1 + b1)        X [4, 2], W1 [2, 8], b1 [8]
//   p = sigmoid(h W2 + b2)     W2 [8, 1], b2 [1]
//   loss = mean((p - y)^2)
// Prints the loss every 100 steps; exits non-zero unless the final loss is below 0.05
// (meson runs it as a test, so this proves the ops and their gradients train a model).
#include <cstdio>
#include <vector>

#include "autograd/ops.h"

using namespace loupe;

int main() {
  const Tensor X = Tensor::from_vector({0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0}, {4, 2}, DType::F32);
  const Tensor Y = Tensor::from_vector({0.0, 1.0, 1.0, 0.0}, {4, 1}, DType::F32);
  const int64_t hidden = 8;
  // Counter-based init: the same weights on every machine and thread count.
  Var W1(Tensor::normal({2, hidden}, 0, 1.0, 1), true), b1(Tensor::zeros({hidden}), true);
  Var W2(Tensor::normal({hidden, 1}, 0, 0.5, 2), true), b2(Tensor::zeros({1}), true);
  std::vector<Var> params{W1, b1, W2, b2};

  const double lr = 1.0;
  const int steps = 1000;
  double loss_value = 0;
  for (int step = 0; step <= steps; ++step) {
    const Var x(X), y(Y);
    Var h = tanh(matmul(x, W1) + b1);
    Var p = sigmoid(matmul(h, W2) + b2);
    Var d = p - y;
    Var loss = mean(d * d);
    loss_value = loss.item();
    if (step % 100 == 0) std::printf("step %4d  loss %.6f\n", step, loss_value);
    if (step == steps) break;
    for (auto& w : params) w.zero_grad();
    loss.backward();
    NoGrad ng;  // SGD: w -= lr * dL/dw
    for (auto& w : params) add_(w.mutable_value(), w.grad(), -lr);
  }
  const Var p = sigmoid(matmul(tanh(matmul(Var(X), W1) + b1), W2) + b2);
  const auto out = p.value().to_vector();
  std::printf("predictions: %.3f %.3f %.3f %.3f (targets 0 1 1 0)\n", out[0], out[1], out[2], out[3]);
  if (!(loss_value < 0.05)) {
    std::printf("FAILED: final loss %.6f is not below 0.05\n", loss_value);
    return 1;
  }
  std::printf("final loss %.6f < 0.05\n", loss_value);
  return 0;
}
