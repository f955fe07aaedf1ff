// GPT-2's tokenizer (tools/text/gpt2.h): UTF-8 repair, the pre-tokenisation pattern, byte
// symbols, known ids, round trips, JSON, datasets and bad files. Id-for-id agreement with the
// reference encoder on large and awkward inputs is tests/gpt2_cli.py (node + npm package).
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_files.h"

#include "tensor/rng.h"
#include "tools/text/dataset.h"
#include "tools/text/gpt2.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using namespace loupe::text;
using testing::error_of;

struct TempDir : testing::ScratchDir {
  TempDir() : ScratchDir("loupe_gpt2_") {}
};

const Gpt2Tokenizer& gpt2() {
  static const Gpt2Tokenizer tok = Gpt2Tokenizer::from_files(LOUPE_SOURCE_ROOT "/data/gpt2/encoder.json",
                                                             LOUPE_SOURCE_ROOT "/data/gpt2/vocab.bpe");
  return tok;
}

std::vector<std::string> chunks(std::string_view s) {
  std::vector<std::string> out;
  for (auto c : gpt2_pretokenize(s)) out.emplace_back(c);
  return out;
}

// The WHATWG decoder's cases (encoding.spec.whatwg.org, "UTF-8 decoder"): one U+FFFD per
// maximal prefix of a valid sequence, or per byte that cannot start one.
TEST(Gpt2Utf8, InvalidSequencesBecomeOneReplacementEach) {
  const std::string R = "\xEF\xBF\xBD";
  EXPECT_EQ(replace_invalid_utf8("plain \xC3\xA9 \xF0\x9F\x99\x82"), "plain \xC3\xA9 \xF0\x9F\x99\x82");
  EXPECT_EQ(replace_invalid_utf8("\xFF"), R);
  EXPECT_EQ(replace_invalid_utf8("\x80\x80"), R + R);              // stray continuation bytes
  EXPECT_EQ(replace_invalid_utf8("\xC3(x"), R + "(x");             // truncated, next byte read afresh
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82"), R);                  // truncated 3-byte: one U+FFFD
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98!"), R + "!");       // truncated 4-byte: one U+FFFD
  EXPECT_EQ(replace_invalid_utf8("\xC0\xAF"), R + R);              // overlong: C0 never starts one
  EXPECT_EQ(replace_invalid_utf8("\xE0\x80\xAF"), R + R + R);      // overlong 3-byte: E0 needs A0..BF
  EXPECT_EQ(replace_invalid_utf8("\xED\xA0\x80"), R + R + R);      // a surrogate: ED needs 80..9F
  EXPECT_EQ(replace_invalid_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(replace_invalid_utf8("end\xE2"), "end" + R);
  EXPECT_EQ(replace_invalid_utf8(std::string("\0a", 2)), std::string("\0a", 2));
}

TEST(Gpt2Pretokenize, GivesThePatternsChunks) {
  using V = std::vector<std::string>;
  EXPECT_EQ(chunks("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(chunks("it's I'll we've they're"), (V{"it", "'s", " I", "'ll", " we", "'ve", " they", "'re"}));
  EXPECT_EQ(chunks("a\n\nb"), (V{"a", "\n", "\n", "b"}));  // \s+(?!\S) leaves the run's last for \s+
  EXPECT_EQ(chunks("a\n\n"), (V{"a", "\n\n"}));            // at the end the whole run is one chunk
  EXPECT_EQ(chunks("x   y"), (V{"x", "  ", " y"}));          // the run's last space joins the word
  EXPECT_EQ(chunks("2026 abc123 !?"), (V{"2026", " abc", "123", " !?"}));
  EXPECT_EQ(chunks("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC"), (V{"caf\xC3\xA9", " \xE6\x97\xA5\xE6\x9C\xAC"}));
  EXPECT_EQ(chunks("\xD9\xA1\xD9\xA2 x"), (V{"\xD9\xA1\xD9\xA2", " x"}));  // Arabic-Indic digits are \p{N}
  // \s is Unicode's White_Space (tiktoken's): U+0085 (NEL) is a space, U+FEFF (BOM) is "other".
  // (npm's gpt-3-encoder, JavaScript's \s, gives {"!\xC2\x85"} and {"\xEF\xBB\xBF", "!"}.)
  EXPECT_EQ(chunks("!\xC2\x85"), (V{"!", "\xC2\x85"}));
  EXPECT_EQ(chunks("\xEF\xBB\xBF!"), (V{"\xEF\xBB\xBF!"}));
  EXPECT_EQ(chunks("a\xC2\x85\xC2\x85" "b"), (V{"a", "\xC2\x85", "\xC2\x85", "b"}));  // " ?" is U+0020 only
  EXPECT_TRUE(chunks("").empty());
}

TEST(Gpt2Tokenizer, ByteSymbolsAreBytesToUnicode) {
  EXPECT_EQ(gpt2_byte_symbol(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(gpt2_byte_symbol('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(gpt2_byte_symbol('A'), "A");
  EXPECT_EQ(gpt2_byte_symbol(0xAD), "\xC5\x83");  // soft hyphen, the last non-printable: U+0143
  EXPECT_EQ(gpt2_byte_symbol(0xFF), "\xC3\xBF");  // printable Latin-1 maps to itself
}

TEST(Gpt2Tokenizer, KnownIds) {
  const auto& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok.encode("\n\n"), (std::vector<int32_t>{628}));
  EXPECT_EQ(tok.encode("a\n\nb"), (std::vector<int32_t>{64, 198, 198, 65}));
  EXPECT_EQ(tok.encode("<|endoftext|>"), (std::vector<int32_t>{27, 91, 437, 1659, 5239, 91, 29}));
  EXPECT_EQ(tok.decode({50256}), "<|endoftext|>");
  // Invalid UTF-8 is read as U+FFFD (one token, 4210).
  EXPECT_EQ(tok.encode("\xFF"), (std::vector<int32_t>{4210}));
}

TEST(Gpt2Tokenizer, DecodeOfEncodeIsTheTextForValidUtf8) {
  const auto& tok = gpt2();
  uint64_t counter = 0;
  const auto next = [&] { return philox4x32(7, 0, counter++)[0]; };
  const char* pieces[] = {"a", "Z", " ", "  ", "\n", "\t", "'s", "'", "7", "\xC3\xA9", "\xE6\x97\xA5",
                          "\xF0\x9F\x99\x82", "\xE2\x80\x8D", "\xCC\x81", "!", "\xC2\xA0", "\xEF\xBB\xBF", "\r\n"};
  for (int round = 0; round < 200; ++round) {
    std::string s;
    const int n = 1 + int(next() % 40);
    for (int i = 0; i < n; ++i) s += pieces[next() % std::size(pieces)];
    const auto ids = tok.encode(s);
    ASSERT_EQ(tok.decode(ids), s) << "round " << round;
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 50256) << "round " << round;
  }
}

TEST(Gpt2Tokenizer, JsonRoundTripKeepsTheMapping) {
  const auto& tok = gpt2();
  const auto back = tokenizer_from_json(nlohmann::json::parse(tok.to_json().dump()), "test");
  ASSERT_EQ(back->type(), "gpt2");
  EXPECT_EQ(back->fingerprint(), tok.fingerprint());
  const std::string s = "To be, or not to be: that is the question.\n\xF0\x9F\x99\x82 \xE6\x97\xA5\xE6\x9C\xAC";
  EXPECT_EQ(back->encode(s), tok.encode(s));
}

TEST(Gpt2Tokenizer, DatasetOfTheCorpusUsesTheDataDirectory) {
  TempDir dir;
  const std::string corpus = (dir.path / "c.txt").string();
  std::ofstream(corpus) << "First Citizen:\nBefore we proceed any further, hear me speak.\n";
  auto tok = tokenizer_for_corpus("gpt2", corpus, 0, dir.path.string());
  ASSERT_EQ(tok->type(), "gpt2");
  TokenDataset ds(corpus, *tok, 0.25, dir.path.string());
  EXPECT_EQ(ds.size(), int64_t(tok->encode("First Citizen:\nBefore we proceed any further, hear me speak.\n").size()));
  EXPECT_EQ(ds.bytes_per_token(), 2);  // 50,257 ids fit u16
  EXPECT_EQ(ds.token(Split::Train, 0), 5962);  // "First"
}

TEST(Gpt2Tokenizer, BadFilesNameTheFileAndEntry) {
  TempDir dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path / name) << text;
    return (dir.path / name).string();
  };
  const std::string vocab = write("vocab.bpe", "#version: 0.2\n");
  EXPECT_NE(error_of([&] { Gpt2Tokenizer::from_files(write("e1.json", "{\"a\": 0,"), vocab); }).find("e1.json': bad JSON"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Gpt2Tokenizer::from_files(write("e2.json", "{\"a\": 7}"), vocab); })
                .find("e2.json': the id of 'a' must be an integer in [0, 0]"),
            std::string::npos);
  // A valid byte table, then a merge naming a token that does not exist.
  nlohmann::json enc = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) enc[gpt2_byte_symbol((unsigned char)b)] = b;
  const std::string e3 = write("e3.json", enc.dump());
  EXPECT_NE(error_of([&] { Gpt2Tokenizer::from_files(e3, write("v3.bpe", "#version: 0.2\na b\n")); })
                .find("merge 0 'a b': ab is not a token"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Gpt2Tokenizer::from_files(e3, write("v4.bpe", "#version: 0.2\na b c\n")); })
                .find("v4.bpe' line 2: expected two tokens"),
            std::string::npos);
  enc["ab"] = 256;
  const Gpt2Tokenizer small = Gpt2Tokenizer::from_files(write("e5.json", enc.dump()), write("v5.bpe", "#version: 0.2\na b\n"));
  EXPECT_EQ(small.encode("xab"), (std::vector<int32_t>{'x', 256}));  // one chunk "xab": only (a, b) merges
  EXPECT_EQ(small.encode("ab ab"), (std::vector<int32_t>{256, ' ', 256}));
}

TEST(Gpt2Tokenizer, MissingDataDirectoryNamesWhereItLooked) {
  ::setenv("LOUPE_GPT2_DIR", "/nonexistent/gpt2", 1);
  const std::string dir = find_gpt2_dir();  // falls back to this tree's data/gpt2
  ::unsetenv("LOUPE_GPT2_DIR");
  EXPECT_TRUE(fs::exists(fs::path(dir) / "encoder.json")) << dir;
}

}  // namespace
}  // namespace loupe
