// Byte-level byte-pair encoding (Sennrich et al. 2016; GPT-2's byte-level variant).
// Ids 0..255 are the bytes; merge k joins the pair merges[k] into id 256 + k.
// Text is first cut into chunks (a word with its leading space, a run of digits, a
// run of punctuation, a run of whitespace — see pretokenize) and merges never cross
// chunk boundaries. Encoding applies the merges in training order; decoding
// concatenates the bytes of each id, so decode(encode(x)) == x for any bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tools/text/tokenizer.h"

namespace loupe::text {

// Cuts text into chunks whose concatenation is the text. Bytes >= 0x80 count as letters,
// so UTF-8 words stay whole.
std::vector<std::string_view> pretokenize(std::string_view text);

class BpeTokenizer : public Tokenizer {
 public:
  explicit BpeTokenizer(std::vector<std::pair<int32_t, int32_t>> merges);
  // Learns vocab_size - 256 merges (fewer if no pair occurs twice), most frequent pair first,
  // ties broken by the smaller pair; incremental pair counts, so ~seconds for 1 MB.
  static BpeTokenizer train(std::string_view corpus, int64_t vocab_size);
  static BpeTokenizer from_json(const nlohmann::json& j);

  std::string type() const override { return "bpe"; }
  int64_t vocab_size() const override { return 256 + int64_t(merges_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  nlohmann::json to_json() const override;
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
  const std::string& token_bytes(int32_t id) const { return bytes_[size_t(id)]; }

 private:
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::vector<std::string> bytes_;                // id -> its bytes
  std::unordered_map<uint64_t, int32_t> rank_;    // pair key -> merge index
};

}  // namespace loupe::text
