// The checkpoint reader (tools/train/checkpoint.cpp) on arbitrary bytes as DIR/ckpt.safetensors: the
// safetensors container, then its metadata (format, the config through the config file's checks,
// step, data record, tokenizer JSON) and its tensors, together. An accepted checkpoint whose model
// is small is built and loaded (every tensor's name and shape checked against the model), runs a
// forward pass on a few tokens, and its tokenizer encodes and decodes a line; a huge model must be
// refused by the parameter estimate, never built. Seeds: a real tiny checkpoint of every model type.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "tests/fuzz/fuzz.h"
#include "tools/train/checkpoint.h"

using namespace loupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::filesystem::create_directories(fuzz::scratch() + "/ckpt");
    return fuzz::scratch() + "/ckpt";
  }();
  fuzz::write_scratch("ckpt/ckpt.safetensors", fuzz::bytes(data, size));
  fuzz::refusal_ok([&] {
    const tools::Checkpoint ck = tools::load_checkpoint(dir);
    if (ck.step < 0 || !ck.tokenizer || !ck.data.is_object()) __builtin_trap();
    const nlohmann::json& m = ck.config.model;
    const double params = models::model_info(m["type"].get<std::string>()).count_parameters(m);
    if (!(params >= 0)) __builtin_trap();
    if (params > 2e5) return;  // a real checkpoint's size: the estimate is what guards it
    const auto model = tools::model_from_checkpoint(ck);
    const int64_t T = std::min<int64_t>(model->block_size(), 4), V = model->vocab_size();
    NoGrad ng;
    model->eval();
    const Tensor logits = model->forward(Tensor::from_ints({0, V - 1, 0, V - 1, 0, V - 1, 0, V - 1}, {2, 4}).narrow(1, 0, T).contiguous()).value();
    if (logits.shape() != Shape{2, T, V}) __builtin_trap();
    const auto ids = ck.tokenizer->encode("To be, or not to be\n");
    for (int32_t id : ids)
      if (id < 0 || id >= ck.tokenizer->vocab_size()) __builtin_trap();
    (void)ck.tokenizer->decode(ids);
  });
  return 0;
}
