#include "tools/text/gpt2.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tools/text/json_int.h"

#ifdef LOUPE_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

namespace fs = std::filesystem;

namespace loupe::text {

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

static void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// ---------------------------------------------------------------- UTF-8 as a WHATWG decoder reads it

std::string replace_invalid_utf8(std::string_view s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      out += char(c), ++i;
      continue;
    }
    // Lead byte: how many continuation bytes, and the allowed range of the first one
    // (E0/F0 exclude overlong forms, ED excludes surrogates, F4 excludes > U+10FFFF).
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      out += kReplacement, ++i;  // C0, C1, F5..FF or a stray continuation byte
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < s.size()) {
      const unsigned char d = (unsigned char)s[j];
      if (d < lo || d > hi) break;
      lo = 0x80;
      hi = 0xBF;
      ++j, ++got;
    }
    if (got == need) out.append(s.substr(i, j - i));
    else out += kReplacement;  // the valid prefix s[i, j) is one U+FFFD; s[j] is read afresh
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------- bytes_to_unicode

static const std::vector<std::string>& byte_symbols() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    uint32_t next = 256;  // bytes that are not printable Latin-1 get U+0100, U+0101, ... in byte order
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      append_utf8(t[size_t(b)], printable ? uint32_t(b) : next++);
    }
    return t;
  }();
  return table;
}

const std::string& gpt2_byte_symbol(unsigned char byte) { return byte_symbols()[byte]; }

// A token in byte symbols -> its raw bytes, or false if a symbol is not one of the 256.
static bool symbols_to_bytes(std::string_view token, std::string& out) {
  static const std::unordered_map<std::string, unsigned char> inverse = [] {
    std::unordered_map<std::string, unsigned char> m;
    for (int b = 0; b < 256; ++b) m.emplace(byte_symbols()[size_t(b)], (unsigned char)b);
    return m;
  }();
  out.clear();
  for (size_t i = 0; i < token.size();) {
    const unsigned char c = (unsigned char)token[i];
    const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : 3;  // every symbol is < U+0800
    if (i + n > token.size()) return false;
    auto it = inverse.find(std::string(token.substr(i, n)));
    if (it == inverse.end()) return false;
    out += char(it->second);
    i += n;
  }
  return true;
}

// ---------------------------------------------------------------- pre-tokenisation

#ifdef LOUPE_HAVE_PCRE2
bool gpt2_available() { return true; }

namespace {
// \s is Unicode's White_Space property, as in tiktoken (OpenAI's encoder, Rust's regex crate):
// U+0085 (NEL) is a space, U+FEFF (BOM) is not. npm's gpt-3-encoder (JavaScript's \s) has these
// two the other way round; loupe follows tiktoken. Spelled out, so PCRE2's version cannot move it.
#define LOUPE_WHITE_SPACE "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
constexpr const char* kPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" LOUPE_WHITE_SPACE "\\p{L}\\p{N}]+"
    "|[" LOUPE_WHITE_SPACE "]+(?![^" LOUPE_WHITE_SPACE "])|[" LOUPE_WHITE_SPACE "]+";
#undef LOUPE_WHITE_SPACE

struct Pattern {
  pcre2_code* code = nullptr;
  Pattern() {
    int err = 0;
    PCRE2_SIZE at = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &at, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error(detail::cat("gpt2 tokenizer: PCRE2 rejected the pattern at ", at, ": ", reinterpret_cast<char*>(msg)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: pcre2_match interprets without it
  }
  ~Pattern() { pcre2_code_free(code); }
};
}  // namespace

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  static const Pattern pattern;  // thread-safe initialisation; the compiled code is read-only
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(pattern.code, nullptr), &pcre2_match_data_free);
  std::vector<std::string_view> out;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  uint32_t options = 0;  // the first call checks the UTF-8 once; later calls skip it
  while (pos < text.size()) {
    const int rc = pcre2_match(pattern.code, subject, text.size(), pos, options, md.get(), nullptr);
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw Error(detail::cat("gpt2 tokenizer: pre-tokenising at byte ", pos, ": ", reinterpret_cast<char*>(msg)));
    }
    options = PCRE2_NO_UTF_CHECK;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    // Every code point is a space, a letter, a number or another: a match starts where the last ended.
    LOUPE_CHECK(ov[0] == pos && ov[1] > pos, "gpt2 tokenizer: the pattern skipped text at byte ", pos);
    out.push_back(text.substr(pos, ov[1] - pos));
    pos = ov[1];
  }
  return out;
}
#else
bool gpt2_available() { return false; }
std::vector<std::string_view> gpt2_pretokenize(std::string_view) {
  throw Error("gpt2 tokenizer: this loupe was built without PCRE2 (install libpcre2-dev and reconfigure meson)");
}
#endif

// ---------------------------------------------------------------- the tokenizer

Gpt2Tokenizer::Gpt2Tokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges)
    : vocab_(std::move(vocab)), merges_(std::move(merges)) {
  LOUPE_CHECK(vocab_.size() >= 256 && vocab_.size() <= size_t(INT32_MAX), "gpt2 tokenizer: ", vocab_.size(),
              " tokens; the 256 bytes alone need 256");
  std::unordered_map<std::string, int32_t> id_of;
  id_of.reserve(vocab_.size());
  bytes_.resize(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    LOUPE_CHECK(id_of.emplace(vocab_[i], int32_t(i)).second, "gpt2 tokenizer: token '", vocab_[i], "' has two ids");
    LOUPE_CHECK(symbols_to_bytes(vocab_[i], bytes_[i]) && !bytes_[i].empty(), "gpt2 tokenizer: token ", i, " '",
                vocab_[i], "' is not written in GPT-2's byte symbols");
  }
  for (int b = 0; b < 256; ++b) {
    auto it = id_of.find(byte_symbols()[size_t(b)]);
    LOUPE_CHECK(it != id_of.end(), "gpt2 tokenizer: no token for byte ", b);
    byte_id_[b] = it->second;
  }
  merge_of_.reserve(merges_.size());
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [a, b] = merges_[r];
    auto ia = id_of.find(a), ib = id_of.find(b), iab = id_of.find(a + b);
    LOUPE_CHECK(ia != id_of.end() && ib != id_of.end() && iab != id_of.end(), "gpt2 tokenizer: merge ", r, " '", a,
                " ", b, "': ", ia == id_of.end() ? a : ib == id_of.end() ? b : a + b, " is not a token");
    // A repeated pair takes its last rank, as the reference's dict(zip(merges, ranks)) does.
    merge_of_[pair_key(ia->second, ib->second)] = Merge{int32_t(r), iab->second};
  }
}

Gpt2Tokenizer Gpt2Tokenizer::from_files(const std::string& encoder_json, const std::string& vocab_bpe) {
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_file(encoder_json));
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::cat("gpt2 tokenizer '", encoder_json, "': bad JSON: ", e.what()));
  }
  LOUPE_CHECK(enc.is_object() && !enc.empty(), "gpt2 tokenizer '", encoder_json, "': expected an object token -> id");
  std::vector<std::string> vocab(enc.size());
  std::vector<bool> seen(enc.size(), false);
  for (auto& [tok, v] : enc.items()) {
    const auto id = size_t(tools::json_int(v, 0, int64_t(enc.size()) - 1,
                                           detail::cat("gpt2 tokenizer '", encoder_json, "': the id of '", tok, "'")));
    LOUPE_CHECK(!seen[id], "gpt2 tokenizer '", encoder_json, "': id ", id, " is given twice");
    seen[id] = true;
    vocab[id] = tok;
  }
  // vocab.bpe: "#version: ..." then one "left right" per line, highest priority first.
  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream in(read_file(vocab_bpe));
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (lineno == 1 && line.rfind("#version", 0) == 0) continue;
    if (line.empty() && in.peek() == EOF) break;
    std::istringstream parts(line);
    std::string a, b, extra;
    LOUPE_CHECK(parts >> a >> b && !(parts >> extra), "gpt2 tokenizer '", vocab_bpe, "' line ", lineno,
                ": expected two tokens separated by a space, got '", line, "'");
    merges.emplace_back(std::move(a), std::move(b));
  }
  try {
    return Gpt2Tokenizer(std::move(vocab), std::move(merges));
  } catch (const Error& e) {
    throw Error(detail::cat(e.what(), " (", encoder_json, ", ", vocab_bpe, ")"));
  }
}

std::string find_gpt2_dir() {
  std::vector<std::string> places;
  if (const char* env = std::getenv("LOUPE_GPT2_DIR"); env && *env) places.emplace_back(env);
#ifdef LOUPE_SOURCE_DIR
  places.emplace_back(LOUPE_SOURCE_DIR "/data/gpt2");
#endif
#ifdef LOUPE_DATA_DIR
  places.emplace_back(LOUPE_DATA_DIR "/gpt2");
#endif
  std::string looked;
  for (const auto& p : places) {
    if (fs::exists(fs::path(p) / "encoder.json") && fs::exists(fs::path(p) / "vocab.bpe")) return p;
    looked += (looked.empty() ? "" : ", ") + p;
  }
  throw Error(detail::cat("gpt2 tokenizer: no encoder.json and vocab.bpe in ", looked.empty() ? "(nowhere)" : looked,
                          "; set LOUPE_GPT2_DIR to the directory that holds them (loupe ships them in data/gpt2)"));
}

Gpt2Tokenizer Gpt2Tokenizer::from_data_dir() {
  const fs::path dir = find_gpt2_dir();
  return from_files((dir / "encoder.json").string(), (dir / "vocab.bpe").string());
}

Gpt2Tokenizer Gpt2Tokenizer::from_json(const nlohmann::json& j) {
  LOUPE_CHECK(tools::json_int(j.at("version"), 1, 1, "gpt2 tokenizer version") == 1, "unreachable");
  std::vector<std::string> vocab = j.at("vocab").get<std::vector<std::string>>();
  std::vector<std::pair<std::string, std::string>> merges;
  for (auto& m : j.at("merges")) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    LOUPE_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos,
                "gpt2 tokenizer: merge ", merges.size(), " '", s, "' is not two tokens separated by a space");
    merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
  }
  return Gpt2Tokenizer(std::move(vocab), std::move(merges));
}

nlohmann::json Gpt2Tokenizer::to_json() const {
  nlohmann::json merges = nlohmann::json::array();
  for (auto& [a, b] : merges_) merges.push_back(a + " " + b);
  return {{"type", "gpt2"}, {"version", 1}, {"vocab", vocab_}, {"merges", merges}};
}

// GPT-2's bpe(): repeatedly merge every occurrence of the lowest-ranked adjacent pair.
void Gpt2Tokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  std::vector<int32_t> word;
  word.reserve(chunk.size());
  for (unsigned char c : chunk) word.push_back(byte_id_[c]);
  while (word.size() > 1) {
    const Merge* best = nullptr;
    int32_t left = 0, right = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = merge_of_.find(pair_key(word[i], word[i + 1]));
      if (it != merge_of_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        left = word[i];
        right = word[i + 1];
      }
    }
    if (!best) break;
    size_t w = 0;
    for (size_t i = 0; i < word.size(); ++w) {
      if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
        word[w] = best->id;
        i += 2;
      } else {
        word[w] = word[i];
        i += 1;
      }
    }
    word.resize(w);
  }
  out.insert(out.end(), word.begin(), word.end());
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text) const {
  const std::string valid = replace_invalid_utf8(text);
  return encode_chunks(gpt2_pretokenize(valid), valid.size() / 3 + 1,
                       [this](std::string_view chunk, std::vector<int32_t>& out) { encode_chunk(chunk, out); });
}

std::string Gpt2Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    LOUPE_CHECK(id >= 0 && id < int32_t(vocab_.size()), "gpt2 tokenizer: id ", id, " out of range [0, ", vocab_.size(),
                ")");
    out += bytes_[size_t(id)];
  }
  return out;
}

}  // namespace loupe::text
