// The token cache reader (tools/text/dataset.cpp): a corpus's encoded token file and its meta JSON,
// as left next to the corpus by an earlier run (or by someone else). The first input byte picks the
// meta file: 0 the one a run would write for these token bytes (so the fuzzed ids are read), 1 the
// same with the token count taken from the next 8 bytes, else the rest of the input after a NUL is
// the meta text. Accepted files must give in-vocabulary ids and batches; bad ones are re-encoded
// or refused with an Error naming the file.
#include <cstring>

#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz.h"
#include "tools/text/dataset.h"

using namespace loupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string corpus_text = [] {
    std::string s;
    for (int i = 0; i < 8; ++i) s += "To be, or not to be: that is the question.\n";
    return s;
  }();
  static const std::string corpus = fuzz::write_scratch("corpus.txt", corpus_text);
  static const auto tok = text::tokenizer_for_corpus("char", corpus, 0);
  if (size == 0) return 0;
  const std::string bin_path = text::TokenDataset::token_file_for(corpus, *tok, "");
  const std::string meta_path = bin_path.substr(0, bin_path.size() - 4) + ".json";
  std::string rest = fuzz::bytes(data + 1, size - 1), meta_text;
  if (data[0] == 0 || data[0] == 1) {
    int64_t tokens = int64_t(rest.size() / 2);
    if (data[0] == 1 && rest.size() >= 8) {
      std::memcpy(&tokens, rest.data(), 8);
      rest = rest.substr(8);
    }
    // What a run writes (dataset.cpp): corpus, its size and hash, the tokenizer, the width, the count.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", (unsigned long long)text::fnv1a64(corpus_text));
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", (unsigned long long)tok->fingerprint());
    meta_text = nlohmann::json{{"corpus", "corpus.txt"}, {"corpus_bytes", corpus_text.size()}, {"corpus_fnv1a64", hash},
                               {"tokenizer", tok->type()}, {"tokenizer_fingerprint", fp},
                               {"vocab_size", tok->vocab_size()}, {"bytes_per_token", 2}, {"tokens", tokens}}
                    .dump();
  } else {
    const size_t nul = rest.find('\0');
    meta_text = rest.substr(nul == std::string::npos ? rest.size() : nul + 1);
    rest = rest.substr(0, nul);
  }
  write_file_atomic(bin_path, rest);
  write_file_atomic(meta_path, meta_text);
  fuzz::refusal_ok([&] {
    text::TokenDataset ds(corpus, *tok, 0.25);
    for (auto s : {text::Split::Train, text::Split::Val})
      for (int64_t i = 0; i < ds.split_size(s); ++i)
        if (ds.token(s, i) < 0 || ds.token(s, i) >= tok->vocab_size()) __builtin_trap();
    ds.check_block(4);
    Tensor x, y;
    ds.batch(text::Split::Train, 3, 4, 1, 0, x, y);
    ds.batch(text::Split::Val, 3, 4, 1, 7, x, y);
  });
  return 0;
}
