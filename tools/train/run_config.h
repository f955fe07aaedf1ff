// Run configs: the JSON file of an experiment (configs/*.json) with three sections,
//   "model": the architecture (read and checked by the model's own config reader),
//   "data":  corpus, tokenizer, validation fraction,
//   "train": optimizer, schedule, batch, intervals, seed...
// load_run_config fills the data/train defaults, applies --set overrides and rejects
// any unknown data/train key; errors name the file and the key.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::tools {

// Every data and train key with its default (the reference list of known keys).
const nlohmann::json& default_data_config();
const nlohmann::json& default_train_config();

// Reads `path`, applies each "section.key=value" in `sets` (value parsed as JSON, else taken
// as a string), fills defaults and validates. `path` may be empty: defaults + sets only.
nlohmann::json load_run_config(const std::string& path, const std::vector<std::string>& sets = {});
// Applies one "section.key=value" assignment (an Error names it when the key is unknown).
void apply_set(nlohmann::json& cfg, const std::string& assignment);
// Fills defaults and checks the data/train sections; `what` names the source in errors.
void complete_run_config(nlohmann::json& cfg, const std::string& what);

}  // namespace loupe::tools
