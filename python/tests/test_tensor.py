"""loupe.Tensor from Python: creation, metadata, indexing with views, operators, errors."""
import numpy as np
import pytest

import loupe


def test_creation_follows_pytorch_defaults():
    assert loupe.tensor([1.5, 2]).dtype == loupe.float32
    assert loupe.tensor([1, 2]).dtype == loupe.int64
    assert loupe.tensor(np.zeros(2)).dtype == loupe.float64  # a float64 array keeps its dtype
    assert loupe.tensor([[1, 2]], dtype=loupe.float64).dtype == loupe.float64
    assert loupe.zeros(2, 3).shape == (2, 3) and loupe.ones((4,)).tolist() == [1, 1, 1, 1]
    assert loupe.full((2,), 7.0).tolist() == [7, 7]
    assert loupe.arange(4).tolist() == [0, 1, 2, 3] and loupe.arange(4).dtype == loupe.int64
    assert loupe.arange(1, 2, 0.25).tolist() == [1, 1.25, 1.5, 1.75]
    x = loupe.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    assert repr(loupe.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=loupe.int64" in repr(loupe.arange(3))


def test_random_is_seeded_and_counter_based():
    a = loupe.randn(3, 4, seed=7)
    assert np.array_equal(a.numpy(), loupe.randn(3, 4, seed=7).numpy())
    loupe.manual_seed(5)
    b1, b2 = loupe.randn(8), loupe.randn(8)
    loupe.manual_seed(5)
    assert np.array_equal(loupe.randn(8).numpy(), b1.numpy()) and not np.array_equal(b1.numpy(), b2.numpy())
    g = loupe.Generator(5)
    assert np.array_equal(loupe.randn(8, generator=g).numpy(), b1.numpy())
    u = loupe.rand(1000, seed=1).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.05


def test_metadata_and_scalars():
    x = loupe.arange(24, dtype=loupe.float32).reshape(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and len(x) == 2
    assert x.stride() == (12, 4, 1) and x.is_contiguous() and not x.transpose(0, 2).is_contiguous()
    assert x[1, 2, 3].item() == 23.0 and float(x[0, 0, 1]) == 1.0 and int(loupe.tensor(5)) == 5
    assert bool(loupe.tensor(1.0)) and not bool(loupe.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises(ValueError, match="24 elements"):
        x.item()
    assert list(range(10))[loupe.tensor(3)] == 3  # __index__


def test_indexing_matches_numpy_and_shares_memory():
    a = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    x = loupe.from_numpy(a)
    keys = [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (slice(1, None, 2), slice(None, None, 3)),
            (None, 1), (slice(None), None, slice(2, 4)), (1, Ellipsis, None), slice(5, 9), [2, 0], (slice(None), [3, 3, 1])]
    for k in keys:
        np.testing.assert_array_equal(x[k].numpy(), a[k], err_msg=str(k))
    view = x[1:, 2]
    assert view._shares_memory_with(x)
    a[2, 2, 0] = -1.0
    assert view[1, 0].item() == -1.0  # the view sees the array's write
    idx = loupe.tensor([[0, 2], [1, 1]])
    assert x[idx].shape == (2, 2, 4, 5)
    np.testing.assert_array_equal(x[:, idx].numpy(), a[:, idx.numpy()])


def test_index_errors_are_index_errors():
    x = loupe.zeros(3, 4)
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="int64"):
        x[loupe.tensor([0.0])]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(IndexError):
        x["a"]


def test_setitem_writes_through_views():
    x = loupe.zeros(3, 4)
    x[1] = 2.0
    x[:, 3] = loupe.tensor([7.0, 8.0, 9.0])
    x[0, :2] = loupe.tensor([1.0, -1.0])
    np.testing.assert_array_equal(x.numpy(), [[1, -1, 0, 7], [2, 2, 2, 8], [0, 0, 0, 9]])


def test_operators_broadcast_and_reverse():
    a = np.arange(6, dtype=np.float64).reshape(2, 3) + 1
    b = np.array([0.5, 2.0, -1.0])
    x, y = loupe.tensor(a), loupe.tensor(b)
    cases = [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b), (2 * x, 2 * a), (x + 1, a + 1),
             (1 - x, 1 - a), (10.0 / x, 10.0 / a), (x ** 3, a ** 3), (2 ** x, 2 ** a), (-x, -a),
             (x @ loupe.tensor(a.T), a @ a.T), (x > 3, (a > 3).astype(float)), (x == y, (a == b).astype(float))]
    for got, want in cases:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-15)
    with pytest.raises(TypeError, match="Python number as its exponent"):
        x ** y
    with pytest.raises(ValueError, match="s must be > 0"):
        (-2) ** x


def test_core_errors_are_value_and_runtime_errors():
    assert issubclass(loupe.Error, ValueError) and issubclass(loupe.Error, RuntimeError)
    with pytest.raises(loupe.Error, match=r"shapes \[2, 3\] and \[4\] do not broadcast"):
        loupe.zeros(2, 3) + loupe.zeros(4)
    with pytest.raises(RuntimeError, match="matmul"):
        loupe.zeros(2, 3) @ loupe.zeros(2, 3)
    with pytest.raises(TypeError):
        loupe.zeros(2) + "a"
    with pytest.raises(loupe.Error):
        loupe.zeros(2, 3).transpose(0, 1).view(6)  # not viewable: PyTorch's view error, not a silent copy


def test_views_conversions_and_helpers():
    x = loupe.arange(12, dtype=loupe.float64).reshape(3, 4)
    assert x.view(4, 3).shape == (4, 3) and x.view(-1).shape == (12,) and x.reshape((2, 6)).shape == (2, 6)
    assert x.permute(1, 0).shape == (4, 3) and x.T.shape == (4, 3) and x.mT.shape == (4, 3)
    assert x.unsqueeze(0).shape == (1, 3, 4) and x.unsqueeze(0).squeeze().shape == (3, 4)
    assert x.flatten().shape == (12,) and x[None].expand(2, -1, -1).shape == (2, 3, 4)
    assert [t.shape for t in x.split(3, dim=1)] == [(3, 3), (3, 1)]
    assert [t.shape for t in loupe.split(x, [1, 2])] == [(1, 4), (2, 4)]
    assert x.float().dtype == loupe.float32 and x.long().dtype == loupe.int64
    np.testing.assert_array_equal(loupe.tril(loupe.ones(3, 3)).numpy(), np.tril(np.ones((3, 3))))
    np.testing.assert_array_equal(loupe.triu(loupe.ones(3, 4), 1).numpy(), np.triu(np.ones((3, 4)), 1))
    m = loupe.tril(loupe.ones(3, 3))
    np.testing.assert_array_equal(x[:, :3].masked_fill(m == 0, -1.0).numpy(),
                                  np.where(np.tril(np.ones((3, 3))) == 0, -1, x.numpy()[:, :3]))
    values, indices = x.max(1)
    assert values.tolist() == [3, 7, 11] and indices.tolist() == [3, 3, 3]
    c = x.clone()
    c[0, 0] = 100.0
    assert x[0, 0].item() == 0.0
