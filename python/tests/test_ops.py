"""Every op of loupe's op registry is reachable from Python: the walk below has one call per
registry name, checks that the call really runs that op (the result's grad_fn names it), and
gradchecks it (float64, central differences). A new op added to the registry fails this test until
it is given a Python spelling here."""
import numpy as np
import pytest

import loupe
import loupe.nn.functional as F

f64 = loupe.float64


def rn(*shape, seed):
    return loupe.randn(*shape, seed=seed, dtype=f64)


def pos(*shape, seed):  # inputs where log, sqrt, division need them positive
    return loupe.rand(*shape, seed=seed, dtype=f64) + 0.5


IDX = loupe.tensor([[0, 2, 1], [3, 3, 0]])
IDS = loupe.tensor([[1, 0, 4], [2, 2, 3]])
TARGETS = loupe.tensor([0, 4, 2, 1, 3, 0])
COND = loupe.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=f64)

# registry name -> (the Python call, its inputs)
CALLS = {
    "neg": (lambda x: -x, [rn(3, 4, seed=1)]),
    "exp": (loupe.exp, [rn(3, 4, seed=2)]),
    "log": (lambda x: x.log(), [pos(3, 4, seed=3)]),
    "sqrt": (loupe.sqrt, [pos(3, 4, seed=4)]),
    "rsqrt": (loupe.rsqrt, [pos(3, 4, seed=5)]),
    "tanh": (F.tanh, [rn(3, 4, seed=6)]),
    "sigmoid": (lambda x: x.sigmoid(), [rn(3, 4, seed=7)]),
    "relu": (F.relu, [rn(3, 4, seed=8)]),
    "gelu": (F.gelu, [rn(3, 4, seed=9)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [rn(3, 4, seed=10)]),
    "silu": (F.silu, [rn(3, 4, seed=11)]),
    "sin": (loupe.sin, [rn(3, 4, seed=12)]),
    "cos": (lambda x: x.cos(), [rn(3, 4, seed=13)]),
    "abs": (lambda x: x.abs(), [rn(3, 4, seed=14)]),
    "pow": (lambda x: x ** 3, [rn(3, 4, seed=15)]),
    "add": (lambda a, b: a + b, [rn(3, 4, seed=16), rn(4, seed=17)]),
    "sub": (lambda a, b: a - b, [rn(3, 4, seed=18), rn(3, 1, seed=19)]),
    "mul": (lambda a, b: a * b, [rn(3, 4, seed=20), rn(3, 4, seed=21)]),
    "div": (lambda a, b: a / b, [rn(3, 4, seed=22), pos(4, seed=23)]),
    "maximum": (loupe.maximum, [rn(3, 4, seed=24), rn(3, 4, seed=25)]),
    "minimum": (loupe.minimum, [rn(3, 4, seed=26), rn(3, 4, seed=27)]),
    "add_scalar": (lambda x: x + 2.5, [rn(3, 4, seed=28)]),
    "mul_scalar": (lambda x: 3.0 * x, [rn(3, 4, seed=29)]),
    "where": (lambda a, b: loupe.where(COND, a, b), [rn(3, 4, seed=30), rn(3, 4, seed=31)]),
    "cast": (lambda x: x.to(loupe.float32), [rn(3, 4, seed=32)]),
    "sum": (lambda x: x.sum(1, keepdim=True), [rn(3, 4, seed=33)]),
    "mean": (lambda x: x.mean((0, 1)), [rn(3, 4, seed=34)]),
    "amax": (lambda x: x.amax(0), [rn(3, 4, seed=35)]),
    "amin": (lambda x: loupe.amin(x, 1), [rn(3, 4, seed=36)]),
    "var": (lambda x: x.var(1, unbiased=False), [rn(3, 4, seed=37)]),
    "softmax": (lambda x: x.softmax(-1), [rn(3, 4, seed=38)]),
    "log_softmax": (lambda x: F.log_softmax(x, 0), [rn(3, 4, seed=39)]),
    "cumsum": (lambda x: x.cumsum(1), [rn(3, 4, seed=40)]),
    "reshape": (lambda x: x.reshape(2, 6), [rn(3, 4, seed=41)]),
    "permute": (lambda x: x.permute(2, 0, 1), [rn(2, 3, 4, seed=42)]),
    "transpose": (lambda x: x.transpose(0, 1), [rn(3, 4, seed=43)]),
    "narrow": (lambda x: x.narrow(1, 1, 2), [rn(3, 4, seed=44)]),
    "slice": (lambda x: x[:, 1::2], [rn(3, 4, seed=45)]),
    "select": (lambda x: x[1], [rn(3, 4, seed=46)]),
    "expand": (lambda x: x.expand(3, 4), [rn(1, 4, seed=47)]),
    "squeeze": (lambda x: x.squeeze(0), [rn(1, 4, seed=48)]),
    "unsqueeze": (lambda x: x.unsqueeze(1), [rn(3, 4, seed=49)]),
    "contiguous": (lambda x: x.T.contiguous(), [rn(3, 4, seed=50)]),
    "concat": (lambda a, b: loupe.cat([a, b], dim=1), [rn(3, 4, seed=51), rn(3, 2, seed=52)]),
    "stack": (lambda a, b: loupe.stack([a, b]), [rn(3, 4, seed=53), rn(3, 4, seed=54)]),
    "split": (lambda x: x.split([1, 3], dim=1), [rn(3, 4, seed=55)]),
    "gather": (lambda x: x.gather(1, IDX), [rn(2, 4, seed=56)]),
    "index_select": (lambda x: x.index_select(0, loupe.tensor([2, 0, 2])), [rn(3, 4, seed=57)]),
    "scatter_add": (lambda x, s: x.scatter_add(1, IDX, s), [rn(2, 4, seed=58), rn(2, 3, seed=59)]),
    "embedding": (lambda w: F.embedding(IDS, w), [rn(5, 3, seed=60)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS), [rn(6, 5, seed=61)]),
    "linear_cross_entropy": (lambda h, w: F.linear_cross_entropy(h, w, TARGETS), [rn(6, 3, seed=90), rn(5, 3, seed=91)]),
    "matmul": (lambda a, b: a @ b, [rn(2, 3, 4, seed=62), rn(4, 5, seed=63)]),
    "einsum": (lambda a, b: loupe.einsum("bij,bjk->bik", a, b), [rn(2, 3, 4, seed=64), rn(2, 4, 2, seed=65)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), [rn(3, 4, seed=66), rn(4, seed=67), rn(4, seed=68)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, 4, w), [rn(3, 4, seed=69), rn(4, seed=70)]),
    "dropout": (lambda x: loupe._loupe.dropout_keyed(x, 0.3, 5, 7), [rn(3, 4, seed=71)]),
    "rope": (lambda x: F.rope(x, pos_offset=2), [rn(1, 3, 2, 4, seed=72)]),
    "rotate_pairs": (F.rotate_pairs, [rn(1, 3, 2, 4, seed=73), rn(3, 2, 2, seed=74), rn(3, 2, 2, seed=75)]),
    "causal_attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                         [rn(1, 2, 3, 4, seed=76), rn(1, 2, 3, 4, seed=77), rn(1, 2, 3, 4, seed=78)]),
    "elita_attention": (loupe._loupe.elita_attention,
                        [rn(1, 5, 2, seed=79), rn(1, 5, 2, seed=80), rn(1, 5, 2, seed=81), rn(1, 5, 2, 3, seed=82)]),
}
# cast's result is float32: its finite differences need a larger step and looser tolerances.
TOLERANCES = {"cast": dict(eps=1e-2, atol=1e-4, rtol=1e-3)}


def test_every_registry_op_has_a_python_call():
    registry = set(loupe.ops())
    assert len(registry) >= 60
    assert registry - set(CALLS) == set(), "ops without a Python spelling in CALLS"
    assert set(CALLS) - registry == set(), "CALLS names ops that are not in the registry"


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


@pytest.mark.parametrize("name", sorted(CALLS))
def test_op_runs_that_op_and_its_gradient_checks(name):
    fn, inputs = CALLS[name]
    leaves = [x.detach().requires_grad_() for x in inputs]
    assert _first(fn(*leaves)).grad_fn == name

    def whole(*xs):
        out = fn(*xs)
        return loupe.cat([o.flatten() for o in out]) if isinstance(out, (list, tuple)) else out.to(f64)

    assert loupe.gradcheck(whole, inputs, **TOLERANCES.get(name, {}))


def test_forward_matches_numpy():
    a, b = rn(3, 4, seed=90), pos(3, 4, seed=91)
    na, nb = a.numpy(), b.numpy()
    np.testing.assert_allclose(loupe.einsum("ij,kj->ik", a, b).numpy(), na @ nb.T, rtol=1e-13)
    np.testing.assert_allclose(a.softmax(1).numpy(), np.exp(na) / np.exp(na).sum(1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(a.var(0).numpy(), na.var(0, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(b.log().numpy(), np.log(nb), rtol=1e-15)
    np.testing.assert_allclose(a.cumsum(1).numpy(), np.cumsum(na, 1), rtol=1e-13)
    logits, t = rn(6, 5, seed=92), TARGETS
    lse = np.log(np.exp(logits.numpy()).sum(1))
    want = np.mean(lse - logits.numpy()[np.arange(6), t.numpy()])
    np.testing.assert_allclose(F.cross_entropy(logits, t).item(), want, rtol=1e-13)
