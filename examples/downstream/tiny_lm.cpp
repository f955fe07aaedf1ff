// tiny_lm: a 2-layer transformer language model written with loupe's public API, outside loupe.
//   x = wte[ids] + wpe[0..T)                       token and learned position embeddings
//   x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))   two pre-norm blocks
//   logits = head(ln_f(x))                         [B, T, V]
// It learns to continue a repeating sequence of 8 tokens with AdamW, saves its weights as
// safetensors (readable from PyTorch), loads them into a fresh model and checks the logits are
// bitwise the same. Exit 0 only if the loss fell below a quarter of its start and the round trip held.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/module.h"
#include "nn/safetensors.h"
#include "optim/adam.h"

using namespace loupe;

constexpr int64_t kVocab = 16, kEmbd = 32, kHeads = 4, kBlock = 16, kLayers = 2;

struct Block : nn::Module {
  Block() {
    nn::AttentionConfig ac;
    ac.n_embd = kEmbd;
    ac.n_head = kHeads;
    ac.bias = true;
    ln_1 = register_module("ln_1", std::make_shared<nn::LayerNorm>(kEmbd));
    attn = register_module("attn", std::make_shared<nn::CausalSelfAttention>(ac));
    ln_2 = register_module("ln_2", std::make_shared<nn::LayerNorm>(kEmbd));
    mlp = register_module("mlp", std::make_shared<nn::MLP>(kEmbd, 4 * kEmbd, /*bias=*/true, /*dropout=*/0.0));
  }
  Var forward(const Var& x) const {
    const Var h = x + attn(ln_1(x));
    return h + mlp(ln_2(h));
  }
  nn::Child<nn::LayerNorm> ln_1, ln_2;
  nn::Child<nn::CausalSelfAttention> attn;
  nn::Child<nn::MLP> mlp;
};

struct TinyLM : nn::Module {
  TinyLM() {
    wte = register_module("wte", std::make_shared<nn::Embedding>(kVocab, kEmbd));
    wpe = register_module("wpe", std::make_shared<nn::Embedding>(kBlock, kEmbd));
    blocks = register_module("h", std::make_shared<nn::ModuleList<Block>>());
    for (int64_t l = 0; l < kLayers; ++l) blocks->push_back(std::make_shared<Block>());
    ln_f = register_module("ln_f", std::make_shared<nn::LayerNorm>(kEmbd));
    head = register_module("lm_head", std::make_shared<nn::Linear>(kEmbd, kVocab, /*bias=*/false));
    // Every matrix N(0, 0.02²), drawn from (seed, name): the same weights on every machine.
    for (auto& [name, p] : named_parameters())
      if (p.value().dim() >= 2) nn::init_normal_(p, 0.02, /*seed=*/1234, name);
  }
  Var forward(const Tensor& ids) const {  // ids i64 [B, T] -> logits [B, T, V]
    const int64_t T = ids.shape()[1];
    Var x = wte(ids) + wpe(Tensor::arange(T, DType::I64));
    for (const auto& block : *blocks) x = block(x);
    return head(ln_f(x));
  }
  nn::Child<nn::Embedding> wte, wpe;
  nn::Child<nn::ModuleList<Block>> blocks;
  nn::Child<nn::LayerNorm> ln_f;
  nn::Child<nn::Linear> head;
};

int main(int argc, char** argv) try {
  const std::string out = argc > 1 ? argv[1] : "tiny_lm.safetensors";
  // Batch of 4 windows of the sequence 0 1 2 ... 7 0 1 ...; each target is the next token.
  const int64_t B = 4, T = kBlock;
  std::vector<int64_t> xs, ys;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) xs.push_back((b + t) % 8), ys.push_back((b + t + 1) % 8);
  const Tensor ids = Tensor::from_ints(xs, {B, T}), targets = Tensor::from_ints(ys, {B * T});

  TinyLM model;
  optim::AdamW opt({optim::ParamGroup{model.named_parameters(), 1.0, 0.0}});
  opt.set_lr(3e-3);
  const auto loss_of = [&](const TinyLM& m) { return cross_entropy(reshape(m.forward(ids), {B * T, kVocab}), targets); };

  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Var loss = loss_of(model);
    loss.backward();
    opt.step();
    last = loss.item();
    if (step == 0) first = last;
    if (step % 10 == 0) std::printf("step %2d  loss %.4f\n", step, last);
  }
  std::printf("%lld parameters; loss %.4f -> %.4f\n", (long long)model.num_parameters(), first, last);

  nn::save_safetensors(out, model.state_dict(), {{"format", "pt"}});
  TinyLM fresh;
  fresh.load_state_dict(nn::load_safetensors(out));
  model.eval(), fresh.eval();
  NoGrad no_grad;
  const auto a = model.forward(ids).value().to_vector(), b = fresh.forward(ids).value().to_vector();
  const bool same = a == b;
  std::printf("saved %s; reloaded logits %s\n", out.c_str(), same ? "bitwise identical" : "DIFFER");
  if (!same || !(last < first / 4)) {
    std::fprintf(stderr, "tiny_lm: FAILED (%s)\n", same ? "the loss did not fall below a quarter of its start" : "reloaded logits differ");
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "tiny_lm: %s\n", e.what());
  return 1;
}
