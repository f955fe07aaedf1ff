// A config's keys, declared once each in one table: the JSON name, the member of the config
// struct it fills, its range or choices and a one-line description. The default is the
// member's initialiser in the struct. Every model's config has one, and so have the data and
// train sections of a run config (tools/train/run_config.h). The table reads a JSON config (types and ranges checked,
// unknown keys rejected: a typo must not be silently ignored), writes it back, and lists the
// keys for `loupe models`. Errors name the model, the key, the expected and the given value.
//
//   static const ConfigKeys<GPTConfig>& keys() {
//     static const auto t = ConfigKeys<GPTConfig>("gpt")
//         .integer("n_layer", &GPTConfig::n_layer, 1, "transformer blocks")
//         .number("dropout", &GPTConfig::dropout, 0, 0.99, "dropout on residual branches and attention");
//     return t;
//   }
#pragma once
#include <cstdint>
#include <functional>
#include <algorithm>
#include <limits>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace loupe::models {

// One key as listed by `loupe models`.
struct KeyDoc {
  std::string name, type, range, doc;
  nlohmann::json default_value;
};

template <class Cfg>
class ConfigKeys {
 public:
  using json = nlohmann::json;
  // A model's table: its config holds "type" too, errors start "<model> config:".
  explicit ConfigKeys(std::string model) : model_(std::move(model)) {}
  // The table of a run config's section ("data", "train"): keys are named "<section>.<key>" in
  // errors, and there is no "type".
  static ConfigKeys section(const std::string& name) {
    ConfigKeys t(name);
    t.prefix_ = name + ".";
    return t;
  }

  // Every integer key has a range a real run can use: `hi` defaults to 2^30 (no size, count or
  // width of a model on one machine is larger); counts that multiply work get tighter bounds.
  static constexpr int64_t kMaxInteger = int64_t(1) << 30;
  ConfigKeys& integer(const std::string& name, int64_t Cfg::*m, int64_t lo, const std::string& doc,
                      int64_t hi = kMaxInteger) {
    std::string range = "[";  // appended, not "[" + ...: GCC 12 warns falsely (-Wrestrict) on that
    range.append(std::to_string(lo)).append(", ").append(std::to_string(hi)).append("]");
    return add(name, "integer", range, doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      // A float, a string or an integer beyond int64 is refused, not converted (nlohmann reads a
      // large unsigned value as a negative int64).
      const bool in = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi)) &&
                      v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
      check(where, key, in, "an integer in " + range, v);
      c.*m = v.get<int64_t>();
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  ConfigKeys& seed(const std::string& name, uint64_t Cfg::*m, const std::string& doc) {
    return add(name, "integer", ">= 0", doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      check(where, key, v.is_number_integer() && (v.is_number_unsigned() || v.get<int64_t>() >= 0), "an integer >= 0", v);
      c.*m = v.get<uint64_t>();
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  // Which ends of a number's range belong to it: [lo, hi], (lo, hi], [lo, hi) or (lo, hi).
  enum class Ends { Closed, OpenBelow, OpenAbove, Open };
  ConfigKeys& number(const std::string& name, double Cfg::*m, double lo, double hi, const std::string& doc,
                     Ends ends = Ends::Closed) {
    const bool open_below = ends == Ends::OpenBelow || ends == Ends::Open;
    const bool open_above = ends == Ends::OpenAbove || ends == Ends::Open;
    std::string range = open_below ? "(" : "[";
    range.append(fmt(lo)).append(", ").append(fmt(hi)).append(open_above ? ")" : "]");
    return add(name, "number", range, doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      check(where, key, v.is_number(), "a number", v);
      const double x = v.get<double>();
      const bool in = (open_below ? x > lo : x >= lo) && (open_above ? x < hi : x <= hi);
      check(where, key, in, "in " + range, v);
      c.*m = x;
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  ConfigKeys& boolean(const std::string& name, bool Cfg::*m, const std::string& doc) {
    return add(name, "boolean", "true | false", doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      check(where, key, v.is_boolean(), "true or false", v);
      c.*m = v.get<bool>();
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  ConfigKeys& choice(const std::string& name, std::string Cfg::*m, const std::vector<std::string>& options,
                     const std::string& doc) {
    std::string range;
    for (auto& o : options) range += (range.empty() ? "" : " | ") + o;
    return add(name, "string", range, doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      const bool ok = v.is_string() && std::find(options.begin(), options.end(), v.get<std::string>()) != options.end();
      check(where, key, ok, "one of " + range, v);
      c.*m = v.get<std::string>();
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  // A choice kept as an enum: `options` pairs each name with its value.
  template <class E>
  ConfigKeys& choice(const std::string& name, E Cfg::*m, const std::vector<std::pair<std::string, E>>& options,
                     const std::string& doc) {
    std::string range;
    for (auto& o : options) range += (range.empty() ? "" : " | ") + o.first;
    return add(name, "string", range, doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      for (auto& [n, e] : options)
        if (v.is_string() && v.get<std::string>() == n) return void(c.*m = e);
      check(where, key, false, "one of " + range, v);
    }, [=](const Cfg& c) {
      for (auto& [n, e] : options)
        if (c.*m == e) return json(n);
      return json(nullptr);
    });
  }
  // Any string (a path, a name); what it names is checked where it is used.
  ConfigKeys& text(const std::string& name, std::string Cfg::*m, const std::string& doc) {
    return add(name, "string", "", doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      check(where, key, v.is_string(), "a string", v);
      c.*m = v.get<std::string>();
    }, [=](const Cfg& c) { return json(c.*m); });
  }
  ConfigKeys& dtype(const std::string& name, DType Cfg::*m, const std::string& doc) {
    return add(name, "string", "f32 | f64", doc, [=](const json& v, Cfg& c, const std::string& where, const std::string& key) {
      check(where, key, v.is_string() && (v == "f32" || v == "f64"), "one of f32 | f64", v);
      c.*m = v == "f64" ? DType::F64 : DType::F32;
    }, [=](const Cfg& c) { return json(c.*m == DType::F64 ? "f64" : "f32"); });
  }
  // The keys every decoder config has (members vocab_size, block_size, n_layer, n_head, n_embd).
  ConfigKeys& decoder_shape() {
    return integer("vocab_size", &Cfg::vocab_size, 1, "token ids (filled in from the tokenizer)", int64_t(1) << 24)
        .integer("block_size", &Cfg::block_size, 1, "context length of training", int64_t(1) << 20)
        .integer("n_layer", &Cfg::n_layer, 1, "layers", 1024)
        .integer("n_head", &Cfg::n_head, 1, "attention heads (n_embd must be a multiple)", 4096)
        .integer("n_embd", &Cfg::n_embd, 1, "model width", int64_t(1) << 16);
  }
  // ... and the run keys every model has (members dropout, seed, dtype).
  ConfigKeys& dropout_seed_dtype(const std::string& dropout_doc) {
    return number("dropout", &Cfg::dropout, 0, 0.99, dropout_doc)
        .seed("seed", &Cfg::seed, "initial weights")
        .dtype("dtype", &Cfg::dtype, "parameter dtype (f64 for gradchecks)");
  }
  // Every key of `other` (a base config's table, e.g. the LLaMA keys that Wiola extends).
  template <class Base>
  ConfigKeys& include(const ConfigKeys<Base>& other) {
    for (auto& k : other.rows_)
      rows_.push_back({k.doc, [read = k.read](const json& v, Cfg& c, const std::string& where, const std::string& key) {
                         read(v, static_cast<Base&>(c), where, key);
                       },
                       [write = k.write](const Cfg& c) { return write(static_cast<const Base&>(c)); }});
    return *this;
  }

  // Reads `j` over `c` (normally a default-constructed Cfg): every key optional; unknown keys
  // rejected unless listed in `also` (keys another table reads); a model's "type" is always
  // allowed. `where` starts every error (default "<model> config").
  void read(const json& j, Cfg& c, const std::set<std::string>& also = {}, const std::string& where = "") const {
    const std::string w = where.empty() ? model_ + " config" : where;
    LOUPE_CHECK(j.is_object(), w, ": expected a JSON object, got ", j.dump());
    for (auto& [k, v] : j.items()) {
      if ((k == "type" && prefix_.empty()) || also.count(k)) continue;
      const Row* row = find(k);
      LOUPE_CHECK(row, w, ": unknown key \"", prefix_, k, "\" (known: ", names(), ")");
      row->read(v, c, w, prefix_ + k);
    }
  }
  // A model's config as JSON, "type" first.
  json write(const Cfg& c, const std::string& type) const {
    json j = {{"type", type}};
    j.update(write(c));
    return j;
  }
  // Every key with its value in `c`.
  json write(const Cfg& c) const {
    json j = json::object();
    for (auto& r : rows_) j[r.doc.name] = r.write(c);
    return j;
  }
  // The keys with their defaults (from a default-constructed Cfg) for listings.
  std::vector<KeyDoc> docs(const Cfg& defaults = Cfg{}) const {
    std::vector<KeyDoc> out;
    for (auto& r : rows_) {
      KeyDoc d = r.doc;
      d.default_value = r.write(defaults);
      out.push_back(d);
    }
    return out;
  }
  std::set<std::string> key_names() const {
    std::set<std::string> s;
    for (auto& r : rows_) s.insert(r.doc.name);
    return s;
  }
  const std::string& model() const { return model_; }

 private:
  template <class>
  friend class ConfigKeys;
  struct Row {
    KeyDoc doc;
    // (value, config, where the error starts, the key as the user wrote it)
    std::function<void(const json&, Cfg&, const std::string&, const std::string&)> read;
    std::function<json(const Cfg&)> write;
  };
  ConfigKeys& add(const std::string& name, const std::string& type, const std::string& range, const std::string& doc,
                  std::function<void(const json&, Cfg&, const std::string&, const std::string&)> read,
                  std::function<json(const Cfg&)> write) {
    LOUPE_CHECK(!find(name), model_, " config table: key \"", name, "\" declared twice");
    rows_.push_back({KeyDoc{name, type, range, doc, nullptr}, std::move(read), std::move(write)});
    return *this;
  }
  const Row* find(const std::string& name) const {
    for (auto& r : rows_)
      if (r.doc.name == name) return &r;
    return nullptr;
  }
  std::string names() const {
    std::string s = prefix_.empty() ? "type" : "";
    for (auto& n : key_names()) s += (s.empty() ? "" : ", ") + n;
    return s;
  }
  static void check(const std::string& where, const std::string& key, bool ok, const std::string& want, const json& v) {
    LOUPE_CHECK(ok, where, ": \"", key, "\" must be ", want, ", got ", v.dump());
  }
  static std::string fmt(double x) {
    std::ostringstream o;
    o << x;
    return o.str();
  }

  std::string model_, prefix_;
  std::vector<Row> rows_;
};

// The one reader of a model config: every key through the table (over the config's defaults),
// then its resolve(model) (derived defaults and the relations between keys).
template <class Cfg>
Cfg read_config(const nlohmann::json& j) {
  Cfg c;
  Cfg::keys().read(j, c);
  c.resolve(Cfg::keys().model());
  return c;
}

}  // namespace loupe::models
