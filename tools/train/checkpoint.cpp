#include "tools/train/checkpoint.h"

#include <charconv>
#include <filesystem>

#include "nn/safetensors.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

std::string checkpoint_path(const std::string& dir) { return (fs::path(dir) / "ckpt.safetensors").string(); }

void save_checkpoint(const std::string& dir, const RunConfig& config, int64_t step, const json& data, const text::Tokenizer& tok,
                     const models::LanguageModel& model, const std::map<std::string, Tensor>& optim_state) {
  fs::create_directories(dir);
  std::map<std::string, Tensor> tensors;
  for (auto& [k, v] : model.state_dict()) tensors["model." + k] = v;
  for (auto& [k, v] : optim_state) tensors["optim." + k] = v;
  const std::map<std::string, std::string> meta = {{"format", "loupe-checkpoint-1"},
                                                   {"config", config.to_json().dump()},
                                                   {"step", std::to_string(step)},
                                                   {"data", data.dump()},
                                                   {"tokenizer", tok.to_json().dump()}};
  nn::save_safetensors(checkpoint_path(dir), tensors, meta);
}

Checkpoint load_checkpoint(const std::string& dir) {
  const std::string path = checkpoint_path(dir);
  LOUPE_CHECK_FILE(fs::exists(path), "no checkpoint in '", dir, "' (expected ", path, ")");
  std::map<std::string, std::string> meta;
  auto tensors = nn::load_safetensors(path, &meta);
  Checkpoint ck;
  try {
    LOUPE_CHECK(meta["format"] == "loupe-checkpoint-1", "not a loupe checkpoint (format '", meta["format"], "')");
    // A checkpoint is outside data like a config file: its config passes the same checks (types,
    // ranges: an edited eval_iters of 10^12 is refused, not run), for every command that loads it.
    ck.config = RunConfig::from_json(json::parse(meta.at("config")), "config");
    const std::string& step = meta.at("step");
    const auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), ck.step);
    LOUPE_CHECK(ec == std::errc() && end == step.data() + step.size() && ck.step >= 0,
                "metadata \"step\" must be a non-negative integer, got '", step, "'");
    if (meta.count("data")) {
      ck.data = json::parse(meta.at("data"));
      LOUPE_CHECK(ck.data.is_object(), "metadata \"data\" must be a JSON object, got ", meta.at("data"));
    }
    ck.tokenizer = text::tokenizer_from_json(json::parse(meta.at("tokenizer")), "in " + path);
  } catch (const std::out_of_range& e) {
    throw Error(detail::cat("checkpoint '", path, "': missing metadata (", e.what(), ")"));
  } catch (const json::exception& e) {
    throw Error(detail::cat("checkpoint '", path, "': bad metadata JSON: ", e.what()));
  } catch (const Error& e) {
    throw Error(detail::cat("checkpoint '", path, "': ", e.what()));
  }
  for (auto& [k, v] : tensors) {
    if (k.rfind("model.", 0) == 0) ck.model_state[k.substr(6)] = v;
    else if (k.rfind("optim.", 0) == 0) ck.optim_state[k.substr(6)] = v;
    else LOUPE_CHECK(false, "checkpoint '", path, "': unexpected tensor '", k, "'");
  }
  return ck;
}

std::shared_ptr<models::LanguageModel> model_from_checkpoint(const Checkpoint& ck) {
  auto model = models::build_model(ck.config.model);
  model->load_state_dict(ck.model_state);
  return model;
}

}  // namespace loupe::tools
