// ShishuLM: the parent's bottom A blocks, then M MLP-only blocks of the parent's kind, optionally
// shared in adjacent pairs. See models/shishu.h.
#include "models/shishu.h"

namespace loupe::models {

static std::shared_ptr<DecoderBlock> parent_block(const ShishuConfig& c, bool with_attention) {
  if (c.is_gpt()) return std::make_shared<GPTBlock>(c.gpt, with_attention);
  return std::make_shared<LlamaBlock>(c.llama, with_attention);
}

ShishuLM::ShishuLM(const ShishuConfig& c)
    : ConfiguredDecoder(c, c.is_gpt() ? c.gpt.spec("shishu") : c.llama.spec("shishu")) {
  for (int64_t i = 0; i < c.attn_layers; ++i) add_block(parent_block(c, true));
  std::shared_ptr<DecoderBlock> last;
  for (int64_t m = 0; m < c.mlp_layers; ++m) {
    // Paired sharing: the second layer of a pair is the first one's module again.
    if (!(c.share_pairs && m % 2 == 1)) last = parent_block(c, false);
    add_block(last);
  }
  // The parent's init, with L = A + M applied layers.
  init_nanogpt(c.is_gpt() ? c.gpt.seed : c.llama.seed, c.n_layer(),
               c.is_gpt() ? GPTBlock::residual_projections() : LlamaBlock::residual_projections());
}

const nn::Module& ShishuLM::layer(int64_t i) const {
  LOUPE_CHECK(i >= 0 && i < int64_t(n_layers()), "shishu: no layer ", i);
  return *block(size_t(i));
}

Var ShishuLM::forward_layers(Var x, int64_t first, int64_t last) {
  LOUPE_CHECK(0 <= first && first <= last && last <= int64_t(n_layers()), "shishu: bad layer range [", first, ", ",
              last, ")");
  for (int64_t l = first; l < last; ++l) x = block(size_t(l))(x, BlockInput{l});
  return x;
}

namespace {
const ModelRegistrar registrar = ModelRegistrar::of<ShishuLM, ShishuConfig>(
    "shishu", "gpt/llama parent with MLP-only top layers and paired weight sharing");
}  // namespace

// ------------------------------------------------------------------ the config: keys, checks, spec, parameter count
const ConfigKeys<ShishuConfig>& ShishuConfig::keys() {
  using C = ShishuConfig;
  static const auto t = ConfigKeys<C>("shishu")
      .choice("parent", &C::parent, {"gpt", "llama"}, "the parent architecture; every other key is the parent's")
      .integer("attn_layers", &C::attn_layers, 1, "bottom layers kept as full parent blocks", 1024)
      .integer("mlp_layers", &C::mlp_layers, 0, "top layers with the attention sub-layer dropped", 1024)
      .boolean("share_pairs", &C::share_pairs, "adjacent MLP-only layers share one module");
  return t;
}

ShishuConfig ShishuConfig::from_json(const nlohmann::json& j) {
  ShishuConfig c;
  LOUPE_CHECK(j.is_object(), "shishu config: expected a JSON object, got ", j.dump());
  const std::string parent = j.value("parent", c.parent);
  const auto parent_keys = parent == "llama" ? LlamaConfig::keys().key_names() : GPTConfig::keys().key_names();
  keys().read(j, c, parent_keys);
  nlohmann::json pj = j;  // the parent's keys: everything but Shishu's own
  for (auto& k : keys().key_names()) pj.erase(k);
  if (pj.contains("n_layer"))  // optional: a parent config may keep it
    LOUPE_CHECK(pj["n_layer"] == c.n_layer(), "shishu config: n_layer ", pj["n_layer"].dump(),
                " must equal attn_layers ", c.attn_layers, " + mlp_layers ", c.mlp_layers);
  pj["n_layer"] = c.n_layer();
  pj["type"] = c.parent;
  try {
    if (c.is_gpt()) c.gpt = GPTConfig::from_json(pj);
    else c.llama = LlamaConfig::from_json(pj);
  } catch (const Error& e) {
    throw Error(detail::cat("shishu config (parent ", c.parent, "): ", e.what()));
  }
  return c;
}

nlohmann::json ShishuConfig::to_json() const {
  nlohmann::json j = is_gpt() ? gpt.to_json() : llama.to_json();
  j.update(keys().write(*this, "shishu"));
  return j;
}

double ShishuConfig::count_parameters() const {
  const int64_t unique_mlp = share_pairs ? (mlp_layers + 1) / 2 : mlp_layers;
  if (is_gpt())
    return skeleton_parameters(gpt.spec("shishu")) + double(attn_layers) * gpt.block_parameters(true) +
           double(unique_mlp) * gpt.block_parameters(false);
  return skeleton_parameters(llama.spec("shishu")) + double(attn_layers) * llama.block_parameters(true) +
         double(unique_mlp) * llama.block_parameters(false);
}

}  // namespace loupe::models
