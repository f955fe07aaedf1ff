// Checkpoints: one safetensors file DIR/ckpt.safetensors holding
//   "model.<param>"  the model's weights,
//   "optim.<key>"    the optimizer state (moments, step count),
// and as metadata the full run config (with the model's resolved config), the
// number of completed steps, the data it trained on (corpus and token-file hashes:
// TokenDataset::identity) and the tokenizer (JSON). Nothing else: every random draw is keyed
// by (seed, step, ...) (autograd/run_context.h), so a run stopped and resumed from this ends
// with bitwise the same weights.
// Written to a temporary file, fsynced and renamed (never half-written).
#pragma once
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "tools/text/tokenizer.h"
#include "tools/train/run_config.h"

namespace loupe::tools {

struct Checkpoint {
  RunConfig config;       // run config; config.model is the model's full config
  int64_t step = 0;       // completed optimizer steps
  nlohmann::json data = nlohmann::json::object();  // the data it trained on (TokenDataset::identity); {} in older checkpoints
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::map<std::string, Tensor> model_state, optim_state;
};

std::string checkpoint_path(const std::string& dir);  // DIR/ckpt.safetensors

void save_checkpoint(const std::string& dir, const RunConfig& config, int64_t step, const nlohmann::json& data,
                     const text::Tokenizer& tok,
                     const models::LanguageModel& model, const std::map<std::string, Tensor>& optim_state);
Checkpoint load_checkpoint(const std::string& dir);  // errors name the file
// Builds the model from the checkpoint's config and loads its weights.
std::shared_ptr<models::LanguageModel> model_from_checkpoint(const Checkpoint& ck);

}  // namespace loupe::tools
