#include "tools/text/tokenizer.h"


#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "tensor/error.h"
#include "tools/text/json_int.h"
#include "tools/text/bpe.h"
#include "tools/text/gpt2.h"

namespace loupe::text {

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

uint64_t Tokenizer::fingerprint() const { return fnv1a64(to_json().dump()); }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
static size_t utf8_len(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return (unsigned char)s[i + k]; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::vector<std::string_view> split_chars(std::string_view text) {
  std::vector<std::string_view> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::max<size_t>(1, utf8_len(text, i));
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------- char tokenizer

CharTokenizer::CharTokenizer(std::vector<std::string> symbols) : symbols_(std::move(symbols)) {
  LOUPE_CHECK(!symbols_.empty(), "char tokenizer: empty alphabet");
  LOUPE_CHECK(std::is_sorted(symbols_.begin(), symbols_.end()) &&
                  std::adjacent_find(symbols_.begin(), symbols_.end()) == symbols_.end(),
              "char tokenizer: symbols must be sorted and unique");
  std::fill(std::begin(byte_id_), std::end(byte_id_), -1);
  for (size_t i = 0; i < symbols_.size(); ++i) {
    const auto& s = symbols_[i];
    LOUPE_CHECK(!s.empty() && split_chars(s).size() == 1, "char tokenizer: symbol ", i, " is not one character");
    if (s.size() == 1) byte_id_[(unsigned char)s[0]] = int32_t(i);
  }
}

CharTokenizer CharTokenizer::from_corpus(std::string_view corpus) {
  LOUPE_CHECK(!corpus.empty(), "char tokenizer: the corpus is empty");
  std::set<std::string> seen;
  bool ascii[256] = {};
  for (auto c : split_chars(corpus)) {
    if (c.size() == 1) ascii[(unsigned char)c[0]] = true;  // fast path for the common case
    else seen.emplace(c);
  }
  for (int b = 0; b < 256; ++b)
    if (ascii[b]) seen.emplace(1, char(b));
  return CharTokenizer(std::vector<std::string>(seen.begin(), seen.end()));
}

static std::string printable(std::string_view c) {
  std::string out;
  for (unsigned char b : c) {
    char buf[8];
    if (b >= 0x20 && b < 0x7f) out += char(b);
    else std::snprintf(buf, sizeof buf, "\\x%02x", b), out += buf;
  }
  return out;
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (auto c : split_chars(text)) {
    int32_t id = -1;
    if (c.size() == 1) {
      id = byte_id_[(unsigned char)c[0]];
    } else {
      auto it = std::lower_bound(symbols_.begin(), symbols_.end(), c);
      if (it != symbols_.end() && *it == c) id = int32_t(it - symbols_.begin());
    }
    LOUPE_CHECK(id >= 0, "char tokenizer: character '", printable(c), "' at byte ", c.data() - text.data(),
                " is not in the vocabulary (", symbols_.size(), " symbols)");
    ids.push_back(id);
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    LOUPE_CHECK(id >= 0 && id < int32_t(symbols_.size()), "char tokenizer: id ", id, " out of range [0, ",
                symbols_.size(), ")");
    out += symbols_[size_t(id)];
  }
  return out;
}

// Symbols are stored as arrays of byte values: JSON strings must be valid UTF-8.
nlohmann::json CharTokenizer::to_json() const {
  nlohmann::json syms = nlohmann::json::array();
  for (auto& s : symbols_) {
    nlohmann::json b = nlohmann::json::array();
    for (unsigned char c : s) b.push_back(int(c));
    syms.push_back(b);
  }
  return {{"type", "char"}, {"version", 1}, {"symbols", syms}};
}

// ---------------------------------------------------------------- JSON I/O

std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& what) {
  try {
    LOUPE_CHECK(j.is_object() && j.contains("type"), "no \"type\" field");
    const std::string type = j.at("type").get<std::string>();
    if (type == "char") {
      std::vector<std::string> syms;
      for (auto& s : j.at("symbols")) {
        std::string str;
        for (auto& b : s) {
          const int v = int(tools::json_int(b, 0, 255, "a symbol byte"));
          str += char(v);
        }
        syms.push_back(str);
      }
      return std::make_unique<CharTokenizer>(std::move(syms));
    }
    if (type == "bpe") return std::make_unique<BpeTokenizer>(BpeTokenizer::from_json(j));
    if (type == "gpt2") return std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::from_json(j));
    LOUPE_CHECK(false, "unknown tokenizer type '", type, "' (known: char, bpe, gpt2)");
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::cat("tokenizer ", what, ": ", e.what()));
  } catch (const Error& e) {
    throw Error(detail::cat("tokenizer ", what, ": ", e.what()));
  }
  return nullptr;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const std::string bytes = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::cat("tokenizer '", path, "': bad JSON: ", e.what()));
  }
  return tokenizer_from_json(j, "'" + path + "'");
}

void save_tokenizer(const Tokenizer& tok, const std::string& path) { write_file_atomic(path, tok.to_json().dump() + "\n"); }

}  // namespace loupe::text
