// Tokenizers: text (any bytes) <-> token ids.
//   char: one id per character of the corpus alphabet (nanoGPT's shakespeare_char: the
//         sorted unique characters; a character is a UTF-8 sequence, or a single byte
//         where the text is not valid UTF-8).
//   bpe:  byte-level byte-pair encoding trained by loupe (tools/text/bpe.h): ids 0..255 are
//         the bytes, each merge adds one id; decode(encode(x)) == x for any bytes.
//   gpt2: GPT-2's published byte-level BPE, 50,257 ids (tools/text/gpt2.h).
// Each saves to / load from a small JSON file with a "type" field.
#pragma once
#include "tensor/file_io.h"
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string type() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;  // throws on an id out of range
  virtual nlohmann::json to_json() const = 0;
  // 64-bit FNV-1a of the canonical JSON: changes whenever the mapping changes.
  uint64_t fingerprint() const;
};

class CharTokenizer : public Tokenizer {
 public:
  explicit CharTokenizer(std::vector<std::string> symbols);  // sorted, unique
  static CharTokenizer from_corpus(std::string_view corpus);
  std::string type() const override { return "char"; }
  int64_t vocab_size() const override { return int64_t(symbols_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;  // unknown character -> Error naming it
  std::string decode(const std::vector<int32_t>& ids) const override;
  nlohmann::json to_json() const override;
  const std::vector<std::string>& symbols() const { return symbols_; }

 private:
  std::vector<std::string> symbols_;
  int32_t byte_id_[256];  // id of a one-byte symbol, or -1
};

// Ids of a text cut into chunks that merges never cross (BPE's pre-tokenisation): each distinct
// chunk is encoded once by encode_chunk(chunk, out), which appends its ids; repeats copy them.
template <class EncodeChunk>
std::vector<int32_t> encode_chunks(const std::vector<std::string_view>& chunks, size_t reserve, EncodeChunk&& encode_chunk) {
  std::vector<int32_t> out;
  out.reserve(reserve);
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> seen;  // chunk -> (first id, count) in out
  for (std::string_view chunk : chunks) {
    if (auto it = seen.find(chunk); it != seen.end()) {
      const auto [at, n] = it->second;
      for (size_t k = 0; k < n; ++k) {
        const int32_t id = out[at + k];  // a copy: push_back may move the storage
        out.push_back(id);
      }
      continue;
    }
    const size_t at = out.size();
    encode_chunk(chunk, out);
    seen.emplace(chunk, std::make_pair(at, out.size() - at));
  }
  return out;
}

// Splits text into characters: whole valid UTF-8 sequences, otherwise single bytes.
std::vector<std::string_view> split_chars(std::string_view text);

// JSON <-> tokenizer; `what` names the source (a file) in errors.
std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& what);
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
void save_tokenizer(const Tokenizer& tok, const std::string& path);  // temp file + rename

// Small file helpers shared by the text tools.
uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace loupe::text
