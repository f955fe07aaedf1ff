#include "tools/text/bpe.h"

#include <algorithm>
#include <queue>

#include "tensor/error.h"
#include "tools/text/json_int.h"

namespace loupe::text {

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// ---------------------------------------------------------------- pretokenizer
enum class ByteClass { Letter, Digit, Space, OtherSpace, Punct };
static ByteClass classify(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return ByteClass::Letter;
  if (c >= '0' && c <= '9') return ByteClass::Digit;
  if (c == ' ') return ByteClass::Space;
  if (c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return ByteClass::OtherSpace;
  return ByteClass::Punct;
}
static bool is_ws(ByteClass k) { return k == ByteClass::Space || k == ByteClass::OtherSpace; }

// Chunks: " ?letters+", " ?digits+", " ?punct+", and whitespace runs (a run's last space
// stays with the word after it, as GPT-2's "\s+(?!\S)").
std::vector<std::string_view> pretokenize(std::string_view s) {
  std::vector<std::string_view> out;
  const size_t n = s.size();
  size_t i = 0;
  auto cls = [&](size_t k) { return classify((unsigned char)s[k]); };
  while (i < n) {
    const size_t start = i;
    ByteClass k = cls(i);
    if (k == ByteClass::Space && i + 1 < n && !is_ws(cls(i + 1))) k = cls(++i);  // leading space joins the word
    if (!is_ws(k)) {
      while (i < n && cls(i) == k) ++i;
    } else {
      while (i < n && is_ws(cls(i))) ++i;
      // Leave a final space for the following word (only if the run has more than that space).
      if (i < n && i - start > 1 && s[i - 1] == ' ') --i;
    }
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

// ---------------------------------------------------------------- tokenizer

BpeTokenizer::BpeTokenizer(std::vector<std::pair<int32_t, int32_t>> merges) : merges_(std::move(merges)) {
  bytes_.reserve(256 + merges_.size());
  for (int b = 0; b < 256; ++b) bytes_.emplace_back(1, char(b));
  for (size_t k = 0; k < merges_.size(); ++k) {
    const auto [a, b] = merges_[k];
    const int32_t limit = int32_t(256 + k);
    LOUPE_CHECK(a >= 0 && a < limit && b >= 0 && b < limit, "bpe: merge ", k, " (", a, ", ", b,
                ") uses an id that does not exist yet (must be < ", limit, ")");
    LOUPE_CHECK(rank_.emplace(pair_key(a, b), int32_t(k)).second, "bpe: merge ", k, " (", a, ", ", b,
                ") repeats an earlier merge");
    bytes_.push_back(bytes_[size_t(a)] + bytes_[size_t(b)]);
  }
}

// Lowest-rank adjacent pair first, all its occurrences left to right, until none merges.
void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  std::vector<int32_t> ids(chunk.begin(), chunk.end());
  for (auto& id : ids) id &= 0xFF;  // char may be signed
  while (ids.size() > 1) {
    int32_t best = INT32_MAX;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = rank_.find(pair_key(ids[i], ids[i + 1]));
      if (it != rank_.end()) best = std::min(best, it->second);
    }
    if (best == INT32_MAX) break;
    const auto [a, b] = merges_[size_t(best)];
    size_t w = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) ids[w++] = 256 + best, ++i;
      else ids[w++] = ids[i];
    }
    ids.resize(w);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  // Words repeat a lot in natural text: encode_chunks encodes each distinct chunk once.
  return encode_chunks(pretokenize(text), text.size() / 2 + 1,
                       [this](std::string_view chunk, std::vector<int32_t>& out) { encode_chunk(chunk, out); });
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    LOUPE_CHECK(id >= 0 && id < int32_t(bytes_.size()), "bpe: id ", id, " out of range [0, ", bytes_.size(), ")");
    out += bytes_[size_t(id)];
  }
  return out;
}

nlohmann::json BpeTokenizer::to_json() const {
  nlohmann::json m = nlohmann::json::array();
  for (auto [a, b] : merges_) m.push_back({a, b});
  return {{"type", "bpe"}, {"version", 1}, {"pretokenizer", "loupe-words-v1"}, {"merges", m}};
}

BpeTokenizer BpeTokenizer::from_json(const nlohmann::json& j) {
  LOUPE_CHECK(j.value("pretokenizer", std::string()) == "loupe-words-v1", "bpe: unknown pretokenizer '",
              j.value("pretokenizer", std::string()), "' (expected loupe-words-v1)");
  std::vector<std::pair<int32_t, int32_t>> merges;
  for (auto& m : j.at("merges")) {
    LOUPE_CHECK(m.is_array() && m.size() == 2, "bpe: merge ", merges.size(), " is not a pair of ids");
    const std::string what = "bpe: merge " + std::to_string(merges.size()) + " id";
    merges.emplace_back(int32_t(tools::json_int(m[0], 0, INT32_MAX, what)), int32_t(tools::json_int(m[1], 0, INT32_MAX, what)));
  }
  return BpeTokenizer(std::move(merges));
}

// ---------------------------------------------------------------- training
//
// The corpus is reduced to its distinct chunks ("words") with their counts. We keep
// the count of every adjacent pair over all words, and for each pair the words it
// occurs in. Each merge then only rewrites the words that contain the pair and
// adjusts the counts of the pairs around each occurrence; a max-heap with lazy
// deletion (stale entries are re-checked against the live count) finds the next pair.
BpeTokenizer BpeTokenizer::train(std::string_view corpus, int64_t vocab_size) {
  LOUPE_CHECK(vocab_size >= 256 && vocab_size <= (int64_t(1) << 30), "bpe train: vocab size must be >= 256, got ",
              vocab_size);
  struct Word {
    std::vector<int32_t> ids;
    int64_t count;
  };
  std::vector<Word> words;
  {
    std::unordered_map<std::string_view, size_t> index;
    for (auto chunk : pretokenize(corpus)) {
      auto [it, fresh] = index.emplace(chunk, words.size());
      if (fresh) {
        std::vector<int32_t> ids(chunk.begin(), chunk.end());
        for (auto& id : ids) id &= 0xFF;
        words.push_back({std::move(ids), 0});
      }
      words[it->second].count++;
    }
  }
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // may hold duplicates and stale words
  for (size_t w = 0; w < words.size(); ++w)
    for (size_t i = 0; i + 1 < words[w].ids.size(); ++i) {
      const uint64_t k = pair_key(words[w].ids[i], words[w].ids[i + 1]);
      count[k] += words[w].count;
      where[k].push_back(int32_t(w));
    }
  // Max count first; among equal counts the smaller pair key (deterministic).
  using Entry = std::pair<int64_t, uint64_t>;
  auto less = [](const Entry& x, const Entry& y) { return x.first != y.first ? x.first < y.first : x.second > y.second; };
  std::priority_queue<Entry, std::vector<Entry>, decltype(less)> heap(less);
  for (auto& [k, c] : count) heap.push({c, k});

  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int32_t> stamp(words.size(), -1);  // last merge that rewrote each word
  const int64_t n_merges = vocab_size - 256;
  while (int64_t(merges.size()) < n_merges && !heap.empty()) {
    const auto [c, k] = heap.top();
    heap.pop();
    auto live = count.find(k);
    const int64_t now = live == count.end() ? 0 : live->second;
    if (now != c) {  // stale entry
      if (now > 0) heap.push({now, k});
      continue;
    }
    if (c < 2) break;  // a pair seen once is not worth a token
    const int32_t a = int32_t(k >> 32), b = int32_t(k & 0xFFFFFFFF), id = int32_t(256 + merges.size());
    merges.emplace_back(a, b);
    std::vector<int32_t> sites = std::move(where[k]);
    where.erase(k);
    for (int32_t w : sites) {
      if (stamp[size_t(w)] == id) continue;  // already rewritten for this merge
      stamp[size_t(w)] = id;
      auto& ids = words[size_t(w)].ids;
      const int64_t wc = words[size_t(w)].count;
      bool has = false;
      for (size_t i = 0; i + 1 < ids.size() && !has; ++i) has = ids[i] == a && ids[i + 1] == b;
      if (!has) continue;  // stale site
      // Remove the word's pairs, merge, add its new pairs back.
      for (size_t i = 0; i + 1 < ids.size(); ++i) count[pair_key(ids[i], ids[i + 1])] -= wc;
      size_t o = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) ids[o++] = id, ++i;
        else ids[o++] = ids[i];
      }
      ids.resize(o);
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        const uint64_t nk = pair_key(ids[i], ids[i + 1]);
        const int64_t nc = (count[nk] += wc);
        if (ids[i] == id || ids[i + 1] == id) where[nk].push_back(w);
        heap.push({nc, nk});
      }
    }
    count.erase(k);
  }
  return BpeTokenizer(std::move(merges));
}

}  // namespace loupe::text
