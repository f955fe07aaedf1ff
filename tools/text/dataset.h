// Token data for training: the corpus is encoded once into a binary file of
// little-endian token ids next to it (u16 when the vocabulary fits, else u32),
//   data/tinyshakespeare.char-<tokenizer fingerprint>.u16.bin
// plus a small JSON meta file recording what it was made from (corpus size and
// hash, tokenizer fingerprint). It is re-encoded whenever those change, then
// memory-mapped. The first (1 − val_fraction) of the tokens are the training
// split, the rest validation, as nanoGPT's prepare.py.
//
// Batches are sampled with the counter-based RNG keyed by (seed, split, index):
// batch `index` is the same whatever happened before, so a resumed run sees
// exactly the batches the uninterrupted run would have.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"
#include "tools/text/tokenizer.h"

namespace loupe::text {

// A read-only memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // Error naming the file on failure
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

enum class Split { Train = 0, Val = 1 };

class TokenDataset {
 public:
  // Opens (encoding first if missing or out of date) the token file for `corpus_path`.
  // cache_dir: where the .bin/.json go ("" = next to the corpus).
  TokenDataset(const std::string& corpus_path, const Tokenizer& tok, double val_fraction,
               const std::string& cache_dir = "");
  // Path of the token file for this corpus and tokenizer (the meta file is the same with .json).
  static std::string token_file_for(const std::string& corpus_path, const Tokenizer& tok, const std::string& cache_dir);

  int64_t size() const { return n_; }                // tokens in total
  int64_t split_size(Split s) const;                 // tokens in the split
  int32_t token(Split s, int64_t i) const;           // i-th token of the split
  const std::string& path() const { return bin_path_; }
  bool was_encoded() const { return encoded_; }      // true if this constructor (re)wrote the file
  int bytes_per_token() const { return width_; }     // 2 (u16) or 4 (u32), little-endian
  // What a run's numbers depend on: the corpus (name, bytes, FNV-1a 64 of its bytes) and the token
  // file made from it (tokens, XXH64 of its bytes). Checkpoints store it (tools/train/checkpoint.h).
  const nlohmann::json& identity() const { return identity_; }

  // Throws, naming the corpus, unless both splits hold more than `block` tokens (a batch
  // row needs block + 1 consecutive tokens).
  void check_block(int64_t block) const;

  // x, y: i64 [batch, block]; y is x shifted by one. Row r of batch `index` starts at
  // floor(u · (split_size − block)), u the (index·batch + r)-th uniform of (seed, stream = split).
  void batch(Split s, int64_t batch, int64_t block, uint64_t seed, uint64_t index, Tensor& x, Tensor& y) const;

 private:
  void check_split(Split s, int64_t block) const;  // the split holds more than `block` tokens

  std::string corpus_path_, bin_path_;
  std::unique_ptr<MappedFile> map_;
  int width_ = 2;  // bytes per token
  int64_t n_ = 0, n_train_ = 0;
  bool encoded_ = false;
  nlohmann::json identity_;
};

// The tokenizer a data config names: "char" (the corpus alphabet), "bpe" (trained on the corpus
// with `bpe_vocab` ids, cached as <stem>.bpe<N>-<corpus hash>.json next to the token files),
// "gpt2" (GPT-2's published tokenizer, find_gpt2_dir()), or the path of a tokenizer JSON file.
std::unique_ptr<Tokenizer> tokenizer_for_corpus(const std::string& spec, const std::string& corpus_path,
                                                int64_t bpe_vocab, const std::string& cache_dir = "");

}  // namespace loupe::text
