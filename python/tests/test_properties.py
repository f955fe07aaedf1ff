"""Property tests (hypothesis) over shapes, dtypes and views: results agree with NumPy, and no
input from Python crashes the interpreter; bad ones raise a Python exception that names them."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loupe

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = {loupe.float32: np.float32, loupe.float64: np.float64}

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def arrays(draw, shape=None):
    shape = draw(shapes) if shape is None else shape
    dt = draw(st.sampled_from(list(DTYPES)))
    seed = draw(st.integers(0, 2**32))
    a = np.random.default_rng(seed).standard_normal(shape).astype(DTYPES[dt])
    return a


@st.composite
def views(draw):
    """A NumPy array and the same strided view of it taken through loupe (transposes and slices)."""
    a = draw(arrays())
    t = loupe.from_numpy(a)
    if a.ndim >= 2 and draw(st.booleans()):
        a, t = a.swapaxes(0, -1), t.transpose(0, -1)
    if a.ndim >= 1 and a.shape[0] > 1 and draw(st.booleans()):
        a, t = a[::2], t[::2]
    return a, t


def broadcastable(shape):
    """A shape that broadcasts with `shape`: some trailing dims kept, some set to 1."""
    return st.integers(0, len(shape)).flatmap(
        lambda k: st.tuples(*[st.sampled_from([d, 1]) for d in shape[len(shape) - k:]]))


@SETTINGS
@given(views(), st.data())
def test_binary_ops_broadcast_like_numpy(view, data):
    a, x = view
    b = data.draw(arrays(shape=data.draw(broadcastable(a.shape))))
    y = loupe.from_numpy(b.astype(a.dtype))
    for got, want in ((x + y, a + b), (x - y, a - b), (x * y, a * b), (loupe.maximum(x, y), np.maximum(a, b))):
        np.testing.assert_allclose(got.numpy(), want.astype(a.dtype), rtol=1e-6, atol=1e-6)


@SETTINGS
@given(views())
def test_reductions_like_numpy(view):
    a, x = view
    assert x.shape == a.shape
    np.testing.assert_allclose(x.sum().item(), a.sum(dtype=np.float64), rtol=1e-4, atol=1e-4)
    if a.ndim:
        np.testing.assert_allclose(x.sum(0).numpy(), a.sum(0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(x.contiguous().numpy(), a)
    if a.size and a.ndim:
        np.testing.assert_allclose(x.amax(-1).numpy(), a.max(-1))
        np.testing.assert_allclose(x.softmax(-1).numpy(), np.exp(a - a.max(-1, keepdims=True)) /
                                   np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


index_items = st.one_of(st.integers(-6, 6), st.none(), st.just(Ellipsis),
                        st.builds(slice, st.one_of(st.none(), st.integers(-6, 6)),
                                  st.one_of(st.none(), st.integers(-6, 6)), st.one_of(st.none(), st.integers(1, 3))))


@SETTINGS
@given(views(), st.lists(index_items, max_size=5).map(tuple))
def test_indexing_agrees_with_numpy_or_raises_index_error(view, key):
    a, x = view
    try:
        want = a[key]
    except IndexError:
        with pytest.raises(IndexError):
            x[key]
        return
    np.testing.assert_array_equal(x[key].numpy(), want)


junk = st.one_of(st.integers(-10, 10), st.floats(allow_nan=True), st.none(), st.text(max_size=3),
                 st.lists(st.integers(-3, 3), max_size=3), shapes)


@SETTINGS
@given(views(), junk, junk)
def test_bad_arguments_raise_and_never_crash(view, j1, j2):
    _, x = view
    calls = [lambda: x.reshape(j1), lambda: x.transpose(j1, j2), lambda: x.sum(j1), lambda: x.softmax(j1),
             lambda: x.narrow(j1, j2, 1), lambda: x.expand(j1), lambda: x.permute(j1), lambda: x.split(j1),
             lambda: x.unsqueeze(j1), lambda: x.squeeze(j1), lambda: x[j1], lambda: x.view(j1),
             lambda: loupe.einsum(str(j1), x), lambda: x.gather(0, loupe.tensor(j2 if isinstance(j2, list) else [0])),
             lambda: x @ x, lambda: loupe.cat([x, x], j1), lambda: x.var(j1), lambda: x.cumsum(j1)]
    for call in calls:
        try:
            call()
        except (ValueError, TypeError, IndexError, RuntimeError, OverflowError):
            pass
