// Gradcheck cases for causal_attention (autograd/ops/attention.cpp).
#include "autograd/nn_ops.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
namespace {

using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// ---- causal_attention
LOUPE_GRADCHECK_CASE("causal_attention", "B2 H2 T7 D5",
                     [] { return Ts{rand64({2, 2, 7, 5}, 41), rand64({2, 2, 7, 5}, 42), rand64({2, 2, 7, 5}, 43)}; },
                     [](const Vs& v) { return causal_attention(v[0], v[1], v[2]); });
LOUPE_GRADCHECK_CASE("causal_attention", "grouped-query H4 Hkv2, scale 0.9",
                     [] { return Ts{rand64({1, 4, 6, 3}, 44), rand64({1, 2, 6, 3}, 45), rand64({1, 2, 6, 3}, 46)}; },
                     [](const Vs& v) {
                       AttentionOptions o;
                       o.scale = 0.9;
                       return causal_attention(v[0], v[1], v[2], o);
                     });
LOUPE_GRADCHECK_CASE("causal_attention", "query offset 4 (KV-cache step), Tk 7",
                     [] { return Ts{rand64({2, 1, 3, 4}, 47), rand64({2, 1, 7, 4}, 48), rand64({2, 1, 7, 4}, 49)}; },
                     [](const Vs& v) {
                       AttentionOptions o;
                       o.q_offset = 4;
                       return causal_attention(v[0], v[1], v[2], o);
                     });
LOUPE_GRADCHECK_CASE("causal_attention", "value width 7 unlike key width 3, 35 query rows (two blocks)",
                     [] { return Ts{rand64({1, 2, 35, 3}, 53), rand64({1, 1, 35, 3}, 54), rand64({1, 1, 35, 7}, 55)}; },
                     [](const Vs& v) { return causal_attention(v[0], v[1], v[2]); });
LOUPE_GRADCHECK_CASE("causal_attention", "dropout 0.25, 66 keys (two key tiles)",
                     [] { return Ts{rand64({1, 1, 66, 2}, 50), rand64({1, 1, 66, 2}, 51), rand64({1, 1, 66, 2}, 52)}; },
                     [](const Vs& v) {
                       AttentionOptions o;
                       o.dropout_p = 0.25;
                       o.seed = 5;
                       o.counter = 3;
                       return causal_attention(v[0], v[1], v[2], o);
                     });

}  // namespace
}  // namespace loupe::testing
