// loupe tokenizer train --vocab N --input F --out tok.json    learn a byte-level BPE
// loupe tokenizer encode --tok tok.json [--input F | TEXT]     print token ids
// loupe tokenizer decode --tok tok.json [IDS... | stdin]       print the text
// (--tok may also be "char:F": the character tokenizer of corpus F, or "gpt2": GPT-2's.)
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "tensor/error.h"
#include "tools/cli/commands.h"
#include "tools/text/bpe.h"
#include "tools/text/gpt2.h"
#include "tools/text/tokenizer.h"

namespace loupe::cli {

static std::unique_ptr<text::Tokenizer> open_tokenizer(const std::string& spec) {
  if (spec.rfind("char:", 0) == 0)
    return std::make_unique<text::CharTokenizer>(text::CharTokenizer::from_corpus(read_file(spec.substr(5))));
  if (spec == "gpt2") return std::make_unique<text::Gpt2Tokenizer>(text::Gpt2Tokenizer::from_data_dir());
  return text::load_tokenizer(spec);
}

static std::string read_stdin() {
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  return ss.str();
}

struct TokenizerArgs {
  std::string input, out, tok, text;
  int64_t vocab = 1024;
  std::vector<std::string> ids;
};

static void run_tokenizer_train(TokenizerArgs& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string corpus = read_file(o.input);
  auto tok = text::BpeTokenizer::train(corpus, o.vocab);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  text::save_tokenizer(tok, o.out);
  const auto n = tok.encode(corpus).size();
  std::printf("%s: vocab %lld (%zu merges) in %.2fs; %zu bytes -> %zu tokens (%.2f bytes/token)\n",
              o.out.c_str(), (long long)tok.vocab_size(), tok.merges().size(), s,
              corpus.size(), n, double(corpus.size()) / double(std::max<size_t>(n, 1)));
}

static void run_tokenizer_encode(TokenizerArgs& o, CLI::App* en) {
  auto tok = open_tokenizer(o.tok);
  const std::string s = !o.input.empty() ? read_file(o.input)
                        : en->count("text") ? o.text
                                            : read_stdin();
  const auto ids = tok->encode(s);
  for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
  std::printf("\n");
}

static void run_tokenizer_decode(TokenizerArgs& o) {
  auto tok = open_tokenizer(o.tok);
  std::vector<std::string> words = o.ids;
  if (words.empty()) {
    std::istringstream in(read_stdin());
    words.assign(std::istream_iterator<std::string>(in), {});
  }
  std::vector<int32_t> ids;
  for (auto& w : words) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(w, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOUPE_CHECK(used == w.size() && v >= 0 && v <= INT32_MAX, "tokenizer decode: '", w,
                "' is not a token id");
    ids.push_back(int32_t(v));
  }
  const std::string s = tok->decode(ids);
  std::fwrite(s.data(), 1, s.size(), stdout);
}

void register_tokenizer(CLI::App& app) {
  auto o = std::make_shared<TokenizerArgs>();
  auto* tk = app.add_subcommand("tokenizer", "train, encode and decode with tokenizers");
  tk->require_subcommand(1);

  auto* tr = tk->add_subcommand("train", "learn a byte-level BPE tokenizer from a corpus");
  tr->add_option("--vocab", o->vocab, "vocabulary size (256 bytes + merges)")->check(CLI::Range(256, 1 << 20));
  tr->add_option("--input,-i", o->input, "corpus file")->required();
  tr->add_option("--out,-o", o->out, "tokenizer JSON to write")->required();
  actions().push_back({tr, [o] { run_tokenizer_train(*o); }});

  auto* en = tk->add_subcommand("encode", "print the token ids of a text");
  en->add_option("--tok,-t", o->tok, "tokenizer JSON, char:CORPUS or gpt2")->required();
  en->add_option("--input,-i", o->input, "file to encode (default: TEXT, or stdin)");
  en->add_option("text", o->text, "text to encode");
  actions().push_back({en, [o, en] { run_tokenizer_encode(*o, en); }});

  auto* de = tk->add_subcommand("decode", "print the text of token ids");
  de->add_option("--tok,-t", o->tok, "tokenizer JSON, char:CORPUS or gpt2")->required();
  de->add_option("ids", o->ids, "token ids (default: read from stdin)");
  actions().push_back({de, [o] { run_tokenizer_decode(*o); }});
}

}  // namespace loupe::cli
