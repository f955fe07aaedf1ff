#include "tools/text/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <xxhash.h>

#include "tensor/error.h"
#include "tools/text/gpt2.h"
#include "tensor/rng.h"
#include "tools/text/bpe.h"

namespace loupe::text {

namespace fs = std::filesystem;

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  LOUPE_CHECK_FILE(fd >= 0, "cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    LOUPE_CHECK(false, "cannot stat '", path, "'");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    LOUPE_CHECK(p != MAP_FAILED, "cannot mmap '", path, "': ", std::strerror(errno));
    data_ = static_cast<const unsigned char*>(p);
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

static std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

std::string TokenDataset::token_file_for(const std::string& corpus_path, const Tokenizer& tok,
                                         const std::string& cache_dir) {
  const fs::path corpus(corpus_path);
  const fs::path dir = cache_dir.empty() ? corpus.parent_path() : fs::path(cache_dir);
  const std::string width = tok.vocab_size() <= 65536 ? "u16" : "u32";
  return (dir / (corpus.stem().string() + "." + tok.type() + "-" + hex64(tok.fingerprint()).substr(0, 8) + "." +
                 width + ".bin"))
      .string();
}

TokenDataset::TokenDataset(const std::string& corpus_path, const Tokenizer& tok, double val_fraction,
                           const std::string& cache_dir) {
  LOUPE_CHECK(val_fraction >= 0 && val_fraction < 1, "dataset: val_fraction must be in [0, 1), got ", val_fraction);
  corpus_path_ = corpus_path;
  bin_path_ = token_file_for(corpus_path, tok, cache_dir);
  const std::string meta_path = bin_path_.substr(0, bin_path_.size() - 4) + ".json";
  width_ = tok.vocab_size() <= 65536 ? 2 : 4;

  const std::string corpus = read_file(corpus_path);
  const nlohmann::json want = {{"corpus", fs::path(corpus_path).filename().string()},
                               {"corpus_bytes", corpus.size()},
                               {"corpus_fnv1a64", hex64(fnv1a64(corpus))},
                               {"tokenizer", tok.type()},
                               {"tokenizer_fingerprint", hex64(tok.fingerprint())},
                               {"vocab_size", tok.vocab_size()},
                               {"bytes_per_token", width_}};
  bool fresh = false;
  if (fs::exists(meta_path) && fs::exists(bin_path_)) {
    try {
      nlohmann::json have = nlohmann::json::parse(read_file(meta_path));
      const int64_t n = have.value("tokens", int64_t(-1));
      have.erase("tokens");
      const uintmax_t bytes = fs::file_size(bin_path_);
      fresh = have == want && n >= 0 && bytes % uintmax_t(width_) == 0 && uintmax_t(n) == bytes / uintmax_t(width_);
    } catch (const std::exception&) {
      fresh = false;  // unreadable meta: re-encode
    }
  }
  if (!fresh) {
    if (!cache_dir.empty()) fs::create_directories(cache_dir);
    const std::vector<int32_t> ids = tok.encode(corpus);
    std::string bytes(ids.size() * size_t(width_), '\0');
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint32_t v = uint32_t(ids[i]);
      for (int b = 0; b < width_; ++b) bytes[i * size_t(width_) + size_t(b)] = char((v >> (8 * b)) & 0xFF);
    }
    write_file_atomic(bin_path_, bytes);
    nlohmann::json meta = want;
    meta["tokens"] = ids.size();
    write_file_atomic(meta_path, meta.dump(1) + "\n");
    encoded_ = true;
  }
  map_ = std::make_unique<MappedFile>(bin_path_);
  LOUPE_CHECK(map_->size() % size_t(width_) == 0, "token file '", bin_path_, "' has ", map_->size(),
              " bytes, not a multiple of ", width_);
  n_ = int64_t(map_->size()) / width_;
  n_train_ = int64_t(std::floor(double(n_) * (1.0 - val_fraction)));
  // A token file is outside data: check every id against the vocabulary once (~1 ms per million).
  for (int64_t i = 0; i < n_; ++i) {
    const int64_t id = token(Split::Train, i);
    LOUPE_CHECK(id >= 0 && id < tok.vocab_size(), "token file '", bin_path_, "': token ", i, " is ", id,
                ", outside the tokenizer's vocabulary of ", tok.vocab_size());
  }
  identity_ = {{"corpus", want["corpus"]},
               {"corpus_bytes", want["corpus_bytes"]},
               {"corpus_fnv1a64", want["corpus_fnv1a64"]},
               {"tokens", n_},
               {"tokens_xxh64", hex64(XXH64(map_->data(), map_->size(), 0))}};
}

int64_t TokenDataset::split_size(Split s) const { return s == Split::Train ? n_train_ : n_ - n_train_; }

int32_t TokenDataset::token(Split s, int64_t i) const {
  const int64_t at = (s == Split::Train ? 0 : n_train_) + i;
  const unsigned char* p = map_->data() + at * width_;
  if (width_ == 2) return int32_t(p[0] | (p[1] << 8));
  return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
}

void TokenDataset::check_block(int64_t block) const {
  for (Split s : {Split::Train, Split::Val}) check_split(s, block);
}

void TokenDataset::check_split(Split s, int64_t block) const {
  LOUPE_CHECK(split_size(s) > block, "data.corpus '", corpus_path_, "': the ", s == Split::Train ? "train" : "val",
              " split has ", split_size(s), " tokens, fewer than block_size + 1 = ", block + 1,
              " (use a longer corpus, a smaller model.block_size or another data.val_fraction)");
}

void TokenDataset::batch(Split s, int64_t batch, int64_t block, uint64_t seed, uint64_t index, Tensor& x,
                         Tensor& y) const {
  const int64_t n = split_size(s);
  LOUPE_CHECK(batch > 0 && block > 0, "dataset: batch and block must be > 0, got ", batch, ", ", block);
  check_split(s, block);
  x = Tensor::empty({batch, block}, DType::I64);
  y = Tensor::empty({batch, block}, DType::I64);
  int64_t* px = x.data<int64_t>();
  int64_t* py = y.data<int64_t>();
  for (int64_t r = 0; r < batch; ++r) {
    const double u = philox_uniform(seed, uint64_t(s) + 1, index * uint64_t(batch) + uint64_t(r));
    const int64_t start = std::min(n - block - 1, int64_t(u * double(n - block)));
    for (int64_t t = 0; t < block; ++t) {
      px[r * block + t] = token(s, start + t);
      py[r * block + t] = token(s, start + t + 1);
    }
  }
}

std::unique_ptr<Tokenizer> tokenizer_for_corpus(const std::string& spec, const std::string& corpus_path,
                                                int64_t bpe_vocab, const std::string& cache_dir) {
  if (spec == "gpt2") return std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::from_data_dir());
  if (spec == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(read_file(corpus_path)));
  if (spec == "bpe") {
    const std::string corpus = read_file(corpus_path);
    const fs::path c(corpus_path);
    const fs::path dir = cache_dir.empty() ? c.parent_path() : fs::path(cache_dir);
    const fs::path path = dir / (c.stem().string() + ".bpe" + std::to_string(bpe_vocab) + "-" +
                                 hex64(fnv1a64(corpus)).substr(0, 8) + ".json");
    if (fs::exists(path)) return load_tokenizer(path.string());
    auto tok = std::make_unique<BpeTokenizer>(BpeTokenizer::train(corpus, bpe_vocab));
    if (!dir.empty()) fs::create_directories(dir);
    save_tokenizer(*tok, path.string());
    return tok;
  }
  LOUPE_CHECK(spec.size() > 5 && spec.substr(spec.size() - 5) == ".json", "data.tokenizer: expected \"char\", \"bpe\", \"gpt2\" or a "
              "tokenizer .json file, got '", spec, "'");
  return load_tokenizer(spec);
}

}  // namespace loupe::text
