// Gradcheck cases for the fused nn ops: layer_norm, rms_norm, dropout, rope, causal_attention.
#include "autograd/nn_ops.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
namespace {

using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// ---- layer_norm
LOUPE_GRADCHECK_CASE("layer_norm", "weight and bias, C=7",
                     [] { return Ts{rand64({3, 5, 7}, 1, -2, 2), rand64({7}, 2, 0.5, 1.5), rand64({7}, 3)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], v[2]); });
LOUPE_GRADCHECK_CASE("layer_norm", "no bias, 17 rows, C=3 (crosses row blocks)",
                     [] { return Ts{rand64({17, 3}, 4, -1, 3), rand64({3}, 5, -1, 1)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], Var(), 1e-3); });
LOUPE_GRADCHECK_CASE("layer_norm", "C=1 rows",
                     [] { return Ts{rand64({4, 1}, 6), rand64({1}, 7), rand64({1}, 8)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], v[2]); });

// ---- rms_norm
LOUPE_GRADCHECK_CASE("rms_norm", "C=9",
                     [] { return Ts{rand64({2, 3, 9}, 11, -2, 2), rand64({9}, 12, 0.5, 1.5)}; },
                     [](const Vs& v) { return rms_norm(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("rms_norm", "17 rows, C=19",
                     [] { return Ts{rand64({17, 19}, 13), rand64({19}, 14)}; },
                     [](const Vs& v) { return rms_norm(v[0], v[1], 1e-6); });

// ---- dropout (the mask is a pure function of seed and counter, so f is deterministic)
LOUPE_GRADCHECK_CASE("dropout", "p=0.3",
                     [] { return Ts{rand64({5, 13}, 21)}; },
                     [](const Vs& v) { return dropout(v[0], 0.3, 42, 7); });

// ---- rope
LOUPE_GRADCHECK_CASE("rope", "B2 T5 H3 D6",
                     [] { return Ts{rand64({2, 5, 3, 6}, 31)}; },
                     [](const Vs& v) { return rope(v[0]); });
LOUPE_GRADCHECK_CASE("rope", "offset 9, base 100",
                     [] { return Ts{rand64({1, 3, 2, 4}, 32)}; },
                     [](const Vs& v) { return rope(v[0], 9, 100.0); });

// ---- rotate_pairs (angles as inputs; cos and sin are free tensors here, not a rotation)
LOUPE_GRADCHECK_CASE("rotate_pairs", "B2 T3 H2 D6",
                     [] { return Ts{rand64({2, 3, 2, 6}, 33), rand64({3, 2, 3}, 34), rand64({3, 2, 3}, 35)}; },
                     [](const Vs& v) { return rotate_pairs(v[0], v[1], v[2]); });

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
