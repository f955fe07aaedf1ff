// The run-config reader (tools/train/run_config.cpp) and every model's config table (models/*.cpp):
// JSON text -> a completed run config -> the model config read by its type's table -> the
// parameter estimate. A config the table accepts whose model is small builds, has its step's
// activations estimated against train.batch_size × block_size (refused if they cannot fit), and
// runs one forward pass on a few tokens; a huge one must be refused by the estimate, never built. Run with
// -timeout and -rss_limit_mb: a config that hangs or eats memory is a finding.
#include <nlohmann/json.hpp>

#include "models/activation_probe.h"
#include "models/model.h"
#include "tests/fuzz/fuzz.h"
#include "tools/train/run_config.h"

using namespace loupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cfg = nlohmann::json::parse(fuzz::bytes(data, size), nullptr, false);
  if (cfg.is_discarded()) return 0;
  fuzz::refusal_ok([&] {
    const tools::RunConfig rc = tools::RunConfig::from_json(cfg, "fuzz.json");
    // What a run writes back (config.json, checkpoints) reads back as the same config.
    if (tools::RunConfig::from_json(rc.to_json(), "again").to_json() != rc.to_json()) __builtin_trap();
    nlohmann::json m = rc.model;
    if (m.is_object() && !m.contains("vocab_size")) m["vocab_size"] = 65;
    const std::string type = m["type"].get<std::string>();  // a string: RunConfig::from_json checks it
    const double params = models::model_info(type).count_parameters(m);  // every key read and range-checked
    if (!(params >= 0)) __builtin_trap();
    if (params > 2e5) return;  // a real run's size: the estimate is what guards it (tested separately)
    const auto model = models::build_model(m);
    if (double(model->num_parameters()) != params) __builtin_trap();  // the estimate is exact
    models::check_training_memory(*model, rc.train.batch_size, model->block_size(), "train");
    const int64_t T = std::min<int64_t>(model->block_size(), 5);
    NoGrad ng;
    const Tensor logits = model->forward(Tensor::from_ints(std::vector<int64_t>(size_t(2 * T), 1), {2, T})).value();
    if (logits.shape() != Shape{2, T, model->vocab_size()}) __builtin_trap();
  });
  return 0;
}
