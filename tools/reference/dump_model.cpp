// dump_model: runs one loupe model on a fixed random batch and writes everything
// a PyTorch reference needs to check it (tools/reference/crosscheck.py):
//   init.<name>      the initial parameters
//   x, y             the batch (i64 [B, T])
//   logits, loss     the forward pass
//   grad.<name>      every parameter gradient
//   adamw.loss       [steps] the loss before each AdamW step
//   adamw.<name>     the parameters after `steps` AdamW steps (lr, betas, wd as below)
// Usage: dump_model '<model config JSON>' out.safetensors [batch] [steps]
#include <cstdio>
#include <iostream>
#include <set>

#include "autograd/ops.h"
#include "models/model.h"
#include "nn/safetensors.h"
#include "optim/adam.h"

using namespace loupe;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: dump_model '<model config JSON>' out.safetensors [batch=3] [steps=5]\n";
    return 2;
  }
  try {
    const nlohmann::json cfg = nlohmann::json::parse(argv[1]);
    const int64_t B = argc > 3 ? std::stoll(argv[3]) : 3;
    const int64_t steps = argc > 4 ? std::stoll(argv[4]) : 5;
    const double lr = 1e-3, wd = 0.1;
    auto model = models::build_model(cfg);
    model->train();
    const int64_t T = model->block_size(), V = model->vocab_size();
    std::map<std::string, Tensor> out;
    for (auto& [n, p] : model->named_parameters()) out["init." + n] = p.value().clone();

    // A fixed batch: ids from the counter RNG.
    std::vector<int64_t> ids;
    for (double u : Tensor::uniform({B, T + 1}, 0, double(V), 2024, DType::F64).to_vector())
      ids.push_back(std::min<int64_t>(int64_t(u), V - 1));
    Tensor all = Tensor::from_ints(ids, {B, T + 1});
    Tensor x = all.narrow(1, 0, T).contiguous(), y = all.narrow(1, 1, T).contiguous();
    out["x"] = x, out["y"] = y;

    auto loss_fn = [&](Tensor* logits) {
      Var lg = model->forward(x);
      if (logits) *logits = lg.value();
      return cross_entropy(reshape(lg, {B * T, V}), y.reshape({B * T}));
    };

    Tensor logits;
    Var loss = loss_fn(&logits);
    loss.backward();
    out["logits"] = logits, out["loss"] = loss.value().reshape({1});
    for (auto& [n, p] : model->named_parameters()) out["grad." + n] = p.grad();

    // AdamW, nanoGPT's groups: decay on dim >= 2 parameters, none on the rest.
    const auto decay_list = model->decay_parameter_names();
    const std::set<std::string> decay(decay_list.begin(), decay_list.end());
    optim::ParamGroup gd{{}, 1.0, wd}, gn{{}, 1.0, 0.0};
    for (auto& np : model->named_parameters()) (decay.count(np.first) ? gd : gn).params.push_back(np);
    optim::AdamOptions ao;
    ao.beta1 = 0.9;
    ao.beta2 = 0.99;
    ao.eps = 1e-8;
    optim::AdamW opt({gd, gn}, ao);
    opt.set_lr(lr);
    std::vector<double> losses;
    for (int64_t s = 0; s < steps; ++s) {
      if (s > 0) {
        opt.zero_grad();
        loss = loss_fn(nullptr);
        loss.backward();
      }
      losses.push_back(loss.item());
      opt.step();
    }
    out["adamw.loss"] = Tensor::from_vector(losses, {int64_t(losses.size())}, DType::F64);
    for (auto& [n, p] : model->named_parameters()) out["adamw." + n] = p.value();
    nn::save_safetensors(argv[2], out, {{"config", model->config().dump()}, {"lr", std::to_string(lr)},
                                        {"weight_decay", std::to_string(wd)}, {"steps", std::to_string(steps)}});
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dump_model: " << e.what() << "\n";
    return 1;
  }
}
