// The tokenizer file reader (tools/text/tokenizer.cpp: char and byte-level BPE JSON). Input: a
// tokenizer JSON, then optionally a NUL byte and a text. An accepted tokenizer must encode the text
// (or refuse it with an Error) and decode what it encoded back to the same bytes, and must survive
// its own to_json round trip.
#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz.h"
#include "tools/text/tokenizer.h"

using namespace loupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in = fuzz::bytes(data, size);
  const size_t nul = in.find('\0');
  const auto j = nlohmann::json::parse(in.substr(0, nul), nullptr, false);
  if (j.is_discarded()) return 0;
  const std::string text = nul == std::string::npos ? "To be, or not to be\n" : in.substr(nul + 1);
  fuzz::refusal_ok([&] {
    const auto tok = text::tokenizer_from_json(j, "fuzz.json");
    const auto again = text::tokenizer_from_json(tok->to_json(), "round trip");
    if (again->vocab_size() != tok->vocab_size()) __builtin_trap();
    std::vector<int32_t> ids;
    fuzz::refusal_ok([&] { ids = tok->encode(text); });
    if (ids.empty()) return;
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    if (tok->decode(ids) != text) __builtin_trap();
    if (again->encode(text) != ids) __builtin_trap();
  });
  return 0;
}
