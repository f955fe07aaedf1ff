// Reads a model's JSON config into its config struct: every key optional with a
// default, types and ranges checked, unknown keys rejected (a typo must not be
// silently ignored). Errors name the model, the key, the expected and the given value.
#pragma once
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace loupe::models {

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& j, std::string model) : j_(j), model_(std::move(model)) {
    LOUPE_CHECK(j_.is_object(), model_, " config: expected a JSON object, got ", j_.dump());
    allowed_.insert("type");
  }
  int64_t integer(const std::string& key, int64_t def, int64_t min_value) {
    allowed_.insert(key);
    if (!j_.contains(key)) return def;
    const auto& v = j_[key];
    LOUPE_CHECK(v.is_number_integer(), model_, " config: \"", key, "\" must be an integer, got ", v.dump());
    const int64_t x = v.get<int64_t>();
    LOUPE_CHECK(x >= min_value, model_, " config: \"", key, "\" must be >= ", min_value, ", got ", x);
    return x;
  }
  double number(const std::string& key, double def, double lo, double hi) {
    allowed_.insert(key);
    if (!j_.contains(key)) return def;
    const auto& v = j_[key];
    LOUPE_CHECK(v.is_number(), model_, " config: \"", key, "\" must be a number, got ", v.dump());
    const double x = v.get<double>();
    LOUPE_CHECK(x >= lo && x <= hi, model_, " config: \"", key, "\" must be in [", lo, ", ", hi, "], got ", x);
    return x;
  }
  bool boolean(const std::string& key, bool def) {
    allowed_.insert(key);
    if (!j_.contains(key)) return def;
    LOUPE_CHECK(j_[key].is_boolean(), model_, " config: \"", key, "\" must be true or false, got ", j_[key].dump());
    return j_[key].get<bool>();
  }
  std::string choice(const std::string& key, const std::string& def, const std::set<std::string>& options) {
    allowed_.insert(key);
    if (!j_.contains(key)) return def;
    const auto& v = j_[key];
    std::string opts;
    for (auto& o : options) opts += (opts.empty() ? "" : ", ") + o;
    LOUPE_CHECK(v.is_string() && options.count(v.get<std::string>()), model_, " config: \"", key,
                "\" must be one of ", opts, ", got ", v.dump());
    return v.get<std::string>();
  }
  // Call last: rejects any key that was not read.
  void finish() const {
    std::string known;
    for (auto& k : allowed_) known += (known.empty() ? "" : ", ") + k;
    for (auto& [k, v] : j_.items())
      LOUPE_CHECK(allowed_.count(k), model_, " config: unknown key \"", k, "\" (known keys: ", known, ")");
  }

 private:
  const nlohmann::json& j_;
  std::string model_;
  std::set<std::string> allowed_;
};

}  // namespace loupe::models
