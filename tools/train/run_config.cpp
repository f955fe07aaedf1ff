#include "tools/train/run_config.h"

#include "tensor/error.h"
#include "tools/text/json_int.h"
#include "tools/text/tokenizer.h"

namespace loupe::tools {

using nlohmann::json;

const json& default_data_config() {
  static const json d = {
      {"corpus", "data/tinyshakespeare.txt"},  // relative to the working directory
      {"tokenizer", "char"},                   // "char", "bpe" (trained on the corpus), or a tokenizer .json
      {"bpe_vocab", 1024},                     // vocabulary size when tokenizer = "bpe"
      {"val_fraction", 0.1},                   // the last 10% of the tokens, as nanoGPT
      {"cache_dir", ""},                       // where token files go ("" = next to the corpus)
  };
  return d;
}

const json& default_train_config() {
  static const json d = {
      {"batch_size", 12},     {"max_iters", 2000},    {"grad_accum", 1},
      {"optimizer", "adamw"}, {"lr", 1e-3},           {"min_lr", 1e-4},
      {"schedule", "cosine"}, {"warmup_iters", 100},  {"lr_decay_iters", 2000},
      {"inv_sqrt_cap", 1e-3}, {"inv_sqrt_scale", 1e-2},
      {"beta1", 0.9},         {"beta2", 0.99},        {"eps", 1e-8},
      {"weight_decay", 0.1},  {"momentum", 0.0},      {"nesterov", false},
      {"grad_clip", 1.0},     // 0 = no clipping
      {"eval_interval", 250}, {"eval_iters", 20},     {"log_interval", 10},
      {"ckpt_interval", 500}, {"seed", 1337},         {"dtype", "f32"},
  };
  return d;
}

static std::string known_keys(const json& d) {
  std::string s;
  for (auto& [k, _] : d.items()) s += (s.empty() ? "" : ", ") + k;
  return s;
}

// Same JSON kind as the default (any number for a float default, an integer for an integer one).
static bool same_kind(const json& v, const json& def) {
  if (def.is_number_float()) return v.is_number();
  if (def.is_number_integer()) return v.is_number_integer();
  return v.type() == def.type();
}

void complete_run_config(json& cfg, const std::string& what) {
  LOUPE_CHECK(cfg.is_object(), what, ": expected a JSON object at the top level");
  for (auto& [k, _] : cfg.items())
    LOUPE_CHECK(k == "model" || k == "data" || k == "train", what, ": unknown section \"", k,
                "\" (known: model, data, train)");
  LOUPE_CHECK(cfg.contains("model") && cfg["model"].is_object(), what, ": missing the \"model\" object");
  LOUPE_CHECK(cfg["model"].contains("type"), what, ": \"model\" has no \"type\"");
  LOUPE_CHECK(cfg["model"]["type"].is_string(), what, ": \"model.type\" must be a string (a model type), got ",
              cfg["model"]["type"].dump());
  for (const char* section : {"data", "train"}) {
    const json& defaults = std::string(section) == "data" ? default_data_config() : default_train_config();
    json& s = cfg[section];
    if (s.is_null()) s = json::object();
    LOUPE_CHECK(s.is_object(), what, ": \"", section, "\" must be an object");
    for (auto& [k, v] : s.items()) {
      LOUPE_CHECK(defaults.contains(k), what, ": unknown key \"", section, ".", k, "\" (known: ", known_keys(defaults), ")");
      LOUPE_CHECK(same_kind(v, defaults[k]), what, ": \"", section, ".", k, "\" must be like ", defaults[k].dump(),
                  ", got ", v.dump());
    }
    for (auto& [k, v] : defaults.items())
      if (!s.contains(k)) s[k] = v;
  }
  const json& t = cfg["train"];
  // Every integer key has a range a real run can use (a typo like 1e12 is refused, not run for days).
  struct Range {
    const char* section;
    const char* key;
    int64_t lo, hi;
  };
  constexpr int64_t kBillion = 1000000000;
  for (const Range& r : {Range{"train", "batch_size", 1, 65536}, Range{"train", "max_iters", 1, kBillion},
                         Range{"train", "grad_accum", 1, 65536}, Range{"train", "eval_interval", 1, kBillion},
                         Range{"train", "eval_iters", 1, 1000000}, Range{"train", "log_interval", 1, kBillion},
                         Range{"train", "ckpt_interval", 1, kBillion}, Range{"train", "warmup_iters", 0, kBillion},
                         Range{"train", "lr_decay_iters", 0, kBillion}, Range{"data", "bpe_vocab", 1, 1 << 20}}) {
    json_int(cfg[r.section][r.key], r.lo, r.hi, what + ": \"" + r.section + "." + r.key + "\"");
  }
  LOUPE_CHECK(t["lr"].get<double>() >= 0 && t["min_lr"].get<double>() >= 0, what, ": learning rates must be >= 0");
  LOUPE_CHECK(t["grad_clip"].get<double>() >= 0, what, ": \"train.grad_clip\" must be >= 0");
  for (const char* k : {"beta1", "beta2", "momentum"})
    LOUPE_CHECK(t[k].get<double>() >= 0 && t[k].get<double>() < 1, what, ": \"train.", k, "\" must be in [0, 1), got ",
                t[k].dump());
  LOUPE_CHECK(t["eps"].get<double>() > 0 && t["eps"].get<double>() <= 1, what, ": \"train.eps\" must be in (0, 1], got ",
              t["eps"].dump());
  LOUPE_CHECK(t["weight_decay"].get<double>() >= 0, what, ": \"train.weight_decay\" must be >= 0");
  LOUPE_CHECK(t["dtype"] == "f32" || t["dtype"] == "f64", what, ": \"train.dtype\" must be \"f32\" or \"f64\"");
  const double vf = cfg["data"]["val_fraction"].get<double>();
  LOUPE_CHECK(vf > 0 && vf < 1, what, ": \"data.val_fraction\" must be in (0, 1), got ", vf);
}

void apply_set(json& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  LOUPE_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq, "--set '", assignment,
              "': expected section.key=value (e.g. train.lr=3e-4)");
  const std::string section = assignment.substr(0, dot), key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string raw = assignment.substr(eq + 1);
  LOUPE_CHECK(section == "model" || section == "data" || section == "train", "--set '", assignment,
              "': unknown section \"", section, "\" (known: model, data, train)");
  LOUPE_CHECK(!key.empty(), "--set '", assignment, "': empty key");
  if (section != "model") {
    const json& defaults = section == "data" ? default_data_config() : default_train_config();
    LOUPE_CHECK(defaults.contains(key), "--set '", assignment, "': unknown key \"", section, ".", key, "\" (known: ",
                known_keys(defaults), ")");
  }
  // Model keys are checked by the model's own config reader when the model is built.
  json value;
  try {
    value = json::parse(raw);
  } catch (const json::exception&) {
    value = raw;  // a bare word: a string
  }
  cfg[section][key] = value;
}

json load_run_config(const std::string& path, const std::vector<std::string>& sets) {
  json cfg = json::object();
  if (!path.empty()) {
    const std::string bytes = read_file(path);
    try {
      cfg = json::parse(bytes);
    } catch (const json::exception& e) {
      throw Error(detail::cat("config '", path, "': bad JSON: ", e.what()));
    }
  }
  for (auto& s : sets) apply_set(cfg, s);
  complete_run_config(cfg, path.empty() ? "config" : "config '" + path + "'");
  return cfg;
}

}  // namespace loupe::tools
