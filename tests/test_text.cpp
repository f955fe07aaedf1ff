// Tokenizers (char, byte-level BPE) and the memory-mapped token dataset.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "tests/test_files.h"

#include "tensor/rng.h"
#include "tools/text/bpe.h"
#include "tools/text/dataset.h"
#include "tools/text/tokenizer.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using namespace loupe::text;

std::string random_bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(philox4x32(seed, 0, i)[0] & 0xFF);
  return s;
}

// Scratch directory named after this suite (tests/test_files.h).
struct TempDir : testing::ScratchDir {
  TempDir() : ScratchDir("loupe_text_") {}
};
using testing::error_of;

const char* kText = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n";

TEST(CharTokenizer, SortedAlphabetAndRoundTrip) {
  auto tok = CharTokenizer::from_corpus(kText);
  std::set<char> chars(kText, kText + std::strlen(kText));
  ASSERT_EQ(tok.vocab_size(), int64_t(chars.size()));
  EXPECT_EQ(tok.symbols()[0], "\n");  // sorted by byte value, as sorted(set(text)) in Python
  EXPECT_EQ(tok.symbols()[1], " ");
  const auto ids = tok.encode("hear me");
  EXPECT_EQ(ids[0], std::distance(chars.begin(), chars.find('h')));
  EXPECT_EQ(tok.decode(tok.encode(kText)), kText);
}

TEST(CharTokenizer, Utf8AndInvalidBytes) {
  const std::string text = "na\xc3\xafve \xe2\x82\xac \xff\xfe ok";  // ï, €, then two invalid bytes
  auto tok = CharTokenizer::from_corpus(text);
  EXPECT_EQ(tok.vocab_size(), int64_t(std::set<std::string>{"n", "a", "\xc3\xaf", "v", "e", " ", "\xe2\x82\xac", "\xff", "\xfe", "o", "k"}.size()));
  EXPECT_EQ(tok.encode(text).size(), 13u);
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  auto err = error_of([&] { tok.encode("nave?"); });
  EXPECT_NE(err.find("'?'"), std::string::npos) << err;
  EXPECT_THROW(tok.decode({0, 99}), Error);
  EXPECT_THROW(CharTokenizer::from_corpus(""), Error);
}

TEST(CharTokenizer, SplitCharsRejectsMalformedUtf8) {
  EXPECT_EQ(split_chars("\xc0\xaf").size(), 2u);          // overlong '/'
  EXPECT_EQ(split_chars("\xed\xa0\x80").size(), 3u);      // surrogate
  EXPECT_EQ(split_chars("\xf0\x9f\x98\x80").size(), 1u);  // emoji
  EXPECT_EQ(split_chars("\xe2\x82").size(), 2u);          // truncated
}

TEST(Bpe, PretokenizeCoversTextAndKeepsWords) {
  const std::string text = "Hello  world, 2024!\n\nok  \tx";
  const auto chunks = pretokenize(text);
  std::string joined;
  for (auto c : chunks) joined += c;
  EXPECT_EQ(joined, text);
  const std::vector<std::string> want = {"Hello", " ", " world", ",", " 2024", "!", "\n\n", "ok", "  \t", "x"};
  ASSERT_EQ(chunks.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(chunks[i], want[i]) << i;
}

TEST(Bpe, LearnsTheMostFrequentPairsFirst) {
  // "ab" appears 6 times, "abc" 4 times: first merge (a,b), then (ab,c).
  auto tok = BpeTokenizer::train("abc abc abc abc ab ab", 258);
  ASSERT_EQ(tok.merges().size(), 2u);
  // Chunks: "abc", " abc"×3, " ab"×2. Pair counts: (a,b) 6, (b,c) 4, (' ',a) 5 -> (a,b).
  EXPECT_EQ(tok.merges()[0], std::make_pair(int32_t('a'), int32_t('b')));
  // Then (' ', 256) 5 vs (256, c) 4.
  EXPECT_EQ(tok.merges()[1], std::make_pair(int32_t(' '), 256));
  EXPECT_EQ(tok.encode(" ab"), (std::vector<int32_t>{257}));
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{256, 'c'}));
  EXPECT_EQ(tok.token_bytes(257), " ab");
}

TEST(Bpe, StopsWhenNoPairRepeats) {
  auto tok = BpeTokenizer::train("abcdef", 1000);
  EXPECT_EQ(tok.vocab_size(), 256);
  EXPECT_THROW(BpeTokenizer::train("abc", 100), Error);
}

// The incremental trainer against a plain trainer that recounts every pair each merge.
TEST(Bpe, IncrementalTrainingMatchesNaiveRecount) {
  std::string corpus;
  for (int i = 0; i < 40; ++i) corpus += kText;
  corpus += random_bytes(300, 3);
  const int64_t vocab = 300;
  auto tok = BpeTokenizer::train(corpus, vocab);

  std::map<std::string, int64_t> wc;
  for (auto c : pretokenize(corpus)) wc[std::string(c)]++;
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (auto& [w, c] : wc) words.push_back({std::vector<int32_t>(w.begin(), w.end()), c});
  for (auto& [ids, c] : words)
    for (auto& id : ids) id &= 0xFF;
  std::vector<std::pair<int32_t, int32_t>> merges;
  for (int32_t id = 256; id < vocab; ++id) {
    std::map<std::pair<int32_t, int32_t>, int64_t> counts;
    for (auto& [ids, c] : words)
      for (size_t i = 0; i + 1 < ids.size(); ++i) counts[{ids[i], ids[i + 1]}] += c;
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t bc = 0;
    for (auto& [p, c] : counts)
      if (c > bc) { // map order: ties go to the smaller pair
        bc = c;
        best = p;
      }
    if (bc < 2) break;
    merges.push_back(best);
    for (auto& [ids, c] : words) {
      std::vector<int32_t> o;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == best.first && ids[i + 1] == best.second) o.push_back(id), ++i;
        else o.push_back(ids[i]);
      }
      ids = o;
    }
  }
  EXPECT_EQ(tok.merges(), merges);
}

TEST(Bpe, RoundTripsAnyBytes) {
  std::string corpus;
  for (int i = 0; i < 20; ++i) corpus += kText;
  corpus += "caf\xc3\xa9 caf\xc3\xa9 caf\xc3\xa9";
  auto tok = BpeTokenizer::train(corpus, 320);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::string s = random_bytes(1 + seed * 37, seed);
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << seed;
  }
  EXPECT_EQ(tok.decode(tok.encode(corpus)), corpus);
  EXPECT_LT(tok.encode(corpus).size(), corpus.size() / 2);  // it compresses what it was trained on
  EXPECT_TRUE(tok.encode("").empty());
  EXPECT_THROW(tok.decode({int32_t(tok.vocab_size())}), Error);
}

TEST(Bpe, SaveLoadAndBadFiles) {
  TempDir d;
  auto tok = BpeTokenizer::train(std::string(kText) + kText + kText, 280);
  const auto path = (d.path / "tok.json").string();
  save_tokenizer(tok, path);
  auto back = load_tokenizer(path);
  EXPECT_EQ(back->type(), "bpe");
  EXPECT_EQ(back->fingerprint(), tok.fingerprint());
  EXPECT_EQ(back->encode(kText), tok.encode(kText));

  auto chr = CharTokenizer::from_corpus("h\xc3\xa9llo\xff");
  save_tokenizer(chr, path);
  EXPECT_EQ(load_tokenizer(path)->decode(chr.encode("\xff\xc3\xa9h")), "\xff\xc3\xa9h");

  auto err = error_of([&] { load_tokenizer((d.path / "missing.json").string()); });
  EXPECT_NE(err.find("missing.json"), std::string::npos) << err;
  err = error_of([&] { load_tokenizer(d.file("bad.json", "{\"type\": \"bpe\", \"merges\": [[1,")); });
  EXPECT_NE(err.find("bad.json"), std::string::npos) << err;
  err = error_of([&] { load_tokenizer(d.file("fwd.json", R"({"type":"bpe","pretokenizer":"loupe-words-v1","merges":[[1,300]]})")); });
  EXPECT_NE(err.find("fwd.json"), std::string::npos) << err;
  EXPECT_NE(err.find("merge 0"), std::string::npos) << err;
  err = error_of([&] { load_tokenizer(d.file("type.json", R"({"type":"wordpiece"})")); });
  EXPECT_NE(err.find("wordpiece"), std::string::npos) << err;
  err = error_of([&] { load_tokenizer(d.file("sym.json", R"({"type":"char","symbols":[[104],[300]]})")); });
  EXPECT_NE(err.find("sym.json"), std::string::npos) << err;
}

TEST(Dataset, EncodesOnceSplitsAndSamplesBatches) {
  TempDir d;
  std::string corpus;
  for (int i = 0; i < 30; ++i) corpus += kText;
  const auto corpus_path = d.file("corpus.txt", corpus);
  auto tok = CharTokenizer::from_corpus(corpus);
  const auto ids = tok.encode(corpus);

  TokenDataset ds(corpus_path, tok, 0.1);
  EXPECT_TRUE(ds.was_encoded());
  EXPECT_TRUE(fs::exists(ds.path()));
  EXPECT_EQ(fs::path(ds.path()).parent_path(), d.path);
  EXPECT_NE(ds.path().find("corpus.char-"), std::string::npos);
  ASSERT_EQ(ds.size(), int64_t(ids.size()));
  const int64_t n_train = int64_t(double(ids.size()) * 0.9);
  EXPECT_EQ(ds.split_size(Split::Train), n_train);
  EXPECT_EQ(ds.token(Split::Val, 0), ids[size_t(n_train)]);

  TokenDataset again(corpus_path, tok, 0.1);
  EXPECT_FALSE(again.was_encoded());  // cached

  Tensor x, y, x2, y2;
  ds.batch(Split::Train, 4, 16, 1337, 7, x, y);
  ASSERT_EQ(x.shape(), (Shape{4, 16}));
  for (int64_t r = 0; r < 4; ++r) {
    // Find the row's start in the train split and check x, y are consecutive tokens.
    const double u = philox_uniform(1337, 1, 7 * 4 + uint64_t(r));
    const int64_t start = int64_t(u * double(n_train - 16));
    for (int64_t t = 0; t < 16; ++t) {
      EXPECT_EQ(x.at({r, t}), ids[size_t(start + t)]);
      EXPECT_EQ(y.at({r, t}), ids[size_t(start + t + 1)]);
    }
  }
  again.batch(Split::Train, 4, 16, 1337, 7, x2, y2);  // same key -> same batch
  EXPECT_EQ(x.to_vector(), x2.to_vector());
  again.batch(Split::Train, 4, 16, 1337, 8, x2, y2);
  EXPECT_NE(x.to_vector(), x2.to_vector());
  ds.batch(Split::Val, 2, 8, 1, 0, x, y);
  for (int64_t t = 0; t < 8; ++t) EXPECT_LT(x.at({0, t}), tok.vocab_size());

  // Changing the corpus re-encodes.
  d.file("corpus.txt", corpus + "Speak.\n");
  TokenDataset changed(corpus_path, tok, 0.1);
  EXPECT_TRUE(changed.was_encoded());
  EXPECT_EQ(changed.size(), ds.size() + 7);
  // A different tokenizer gets its own file.
  auto bpe = BpeTokenizer::train(corpus, 300);
  TokenDataset other(corpus_path, bpe, 0.1, (d.path / "cache").string());
  EXPECT_NE(other.path(), changed.path());
  EXPECT_EQ(fs::path(other.path()).parent_path(), d.path / "cache");
  EXPECT_LT(other.size(), changed.size());
}

TEST(Dataset, ErrorsNameTheFile) {
  TempDir d;
  auto tok = CharTokenizer::from_corpus("abc");
  auto err = error_of([&] { TokenDataset((d.path / "nope.txt").string(), tok, 0.1); });
  EXPECT_NE(err.find("nope.txt"), std::string::npos) << err;
  const auto small = d.file("small.txt", "abcabc");
  TokenDataset ds(small, tok, 0.5);
  Tensor x, y;
  err = error_of([&] { ds.batch(Split::Val, 1, 8, 0, 0, x, y); });
  EXPECT_NE(err.find("small.txt"), std::string::npos) << err;
  EXPECT_NE(err.find("block_size"), std::string::npos) << err;
  err = error_of([&] { ds.check_block(8); });  // what the trainer calls before it builds anything
  EXPECT_NE(err.find("small.txt"), std::string::npos) << err;
  EXPECT_NE(err.find("train split has 3 tokens"), std::string::npos) << err;
  // A character the tokenizer does not know.
  err = error_of([&] { TokenDataset(d.file("other.txt", "abd"), tok, 0.1); });
  EXPECT_NE(err.find("'d'"), std::string::npos) << err;
  // A corrupted token file (ids out of range) with a matching meta file is caught.
  {
    std::ofstream(ds.path(), std::ios::binary | std::ios::in | std::ios::out).write("\xff\xff", 2);
  }
  err = error_of([&] { TokenDataset(small, tok, 0.5); });
  EXPECT_NE(err.find(ds.path()), std::string::npos) << err;
  EXPECT_THROW(TokenDataset(small, tok, 1.0), Error);
}

}  // namespace
}  // namespace loupe
