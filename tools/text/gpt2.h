// GPT-2's tokenizer (Radford et al. 2019): byte-level BPE with OpenAI's published files.
//   1. Text is read as UTF-8; an invalid sequence becomes U+FFFD, as a WHATWG decoder
//      (TextDecoder) and Python's decode(errors="replace") read it.
//   2. Pre-tokenisation cuts it with GPT-2's pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (PCRE2, Unicode letter/number properties; \s is Unicode's White_Space, spelled out:
//      tiktoken's reading, where U+0085 is a space and U+FEFF is not).
//   3. Each chunk's UTF-8 bytes start as one token each; the adjacent pair with the
//      lowest merge rank is merged everywhere in the chunk (left to right), until no
//      pair has a rank.
// decode(encode(x)) == x for valid UTF-8 text. Needs PCRE2 at build time (gpt2_available()).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tools/text/tokenizer.h"

namespace loupe::text {

// True if this loupe was built with PCRE2 (the gpt2 tokenizer's pre-tokeniser).
bool gpt2_available();

// Text with every invalid UTF-8 sequence replaced by U+FFFD (WHATWG "maximal subpart" rule:
// the longest prefix of a valid sequence becomes one U+FFFD; a stray byte becomes one).
std::string replace_invalid_utf8(std::string_view bytes);

// GPT-2's pre-tokenisation of valid UTF-8 text: chunks whose concatenation is the text.
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

// GPT-2's map from a byte to the printable code point that stands for it in encoder.json
// (bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100...), as UTF-8.
const std::string& gpt2_byte_symbol(unsigned char byte);

class Gpt2Tokenizer : public Tokenizer {
 public:
  // vocab: id -> token written in byte symbols; merges in rank order (each side a token).
  Gpt2Tokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges);
  // OpenAI's encoder.json and vocab.bpe; errors name the file and the entry.
  static Gpt2Tokenizer from_files(const std::string& encoder_json, const std::string& vocab_bpe);
  // From data/gpt2 (see find_gpt2_dir).
  static Gpt2Tokenizer from_data_dir();
  static Gpt2Tokenizer from_json(const nlohmann::json& j);

  std::string type() const override { return "gpt2"; }
  int64_t vocab_size() const override { return int64_t(vocab_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;  // raw bytes, as the tokens hold them
  nlohmann::json to_json() const override;  // self-contained: vocab and merges (a checkpoint needs no data dir)

 private:
  struct Merge {
    int32_t rank, id;  // priority (lower first) and the merged token's id
  };
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;
  std::vector<std::string> vocab_;                           // id -> byte symbols
  std::vector<std::pair<std::string, std::string>> merges_;  // rank -> pair
  std::vector<std::string> bytes_;                           // id -> raw bytes
  int32_t byte_id_[256];                                     // the one-byte tokens
  std::unordered_map<uint64_t, Merge> merge_of_;             // (left id, right id) -> merge
};

// The directory holding encoder.json and vocab.bpe: $LOUPE_GPT2_DIR if set, else data/gpt2 of
// this source tree, else <prefix>/share/loupe/gpt2 of an installed loupe. Throws naming each
// place looked.
std::string find_gpt2_dir();

}  // namespace loupe::text
