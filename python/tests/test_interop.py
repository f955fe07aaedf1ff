"""Memory shared with NumPy and PyTorch (DLPack), copies where sharing is impossible, and the
gradients of loupe ops equal PyTorch 2's on the same inputs."""
import warnings

import numpy as np
import pytest
import torch

import loupe


def test_numpy_both_ways_shares_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = loupe.from_numpy(a)
    a[1, 2] = -7
    assert t[1, 2].item() == -7
    t.numpy()[0, 0] = 42
    assert a[0, 0] == 42
    v = loupe.from_numpy(a[:, 1::2])  # a strided view is shared too
    assert v.stride() == (4, 2)
    a[2, 3] = 5
    assert v[2, 1].item() == 5
    back = t.T.numpy()
    assert back.strides == (4, 16) and np.shares_memory(back, a)


@pytest.mark.parametrize("array,why", [
    (np.arange(4, dtype=np.int32), "dtype int32"),
    (np.arange(4, dtype=np.float16), "dtype float16"),
    (np.arange(4.0)[::-1], "negative"),
    (np.arange(4.0).astype(">f8"), "byte order"),
    (np.array([True, False]), "dtype bool"),
])
def test_numpy_copies_say_why(array, why):
    with pytest.warns(loupe.CopyWarning, match=why):
        t = loupe.from_numpy(array)
    np.testing.assert_array_equal(t.numpy(), array.astype(t.numpy().dtype))


def test_read_only_arrays_are_copied():
    a = np.arange(3.0)
    a.flags.writeable = False
    with pytest.warns(loupe.CopyWarning, match="read-only"):
        t = loupe.from_numpy(a)
    t[0] = 9.0
    assert a[0] == 0.0


def test_export_refuses_tensors_that_require_grad():
    x = loupe.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="detach"):
        x.numpy()
    with pytest.raises(ValueError, match="detach"):
        torch.from_dlpack(x)
    assert x.detach().numpy().shape == (2,)


def test_dlpack_both_ways_shares_memory():
    t = loupe.zeros(2, 3, dtype=loupe.float64)
    pt = torch.from_dlpack(t)
    assert pt.dtype == torch.float64 and pt.shape == (2, 3)
    pt[1, 2] = 3.5
    assert t[1, 2].item() == 3.5
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()  # a transposed view
    lt = loupe.from_dlpack(src)
    assert lt.shape == (3, 2) and lt.stride() == (1, 3)
    lt[0, 1] = -1.0
    assert src[0, 1].item() == -1.0
    ids = loupe.from_dlpack(torch.tensor([3, 1]))
    assert ids.dtype == loupe.int64 and ids.tolist() == [3, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loupe.from_dlpack(np.zeros(3))  # NumPy through DLPack: shared, no warning


def test_dlpack_copies_what_cannot_be_shared():
    with pytest.warns(loupe.CopyWarning):
        t = loupe.from_dlpack(torch.arange(4, dtype=torch.int32))
    assert t.dtype == loupe.int64 and t.tolist() == [0, 1, 2, 3]


def test_gradients_equal_pytorch():
    rng = np.random.default_rng(0)
    a, w, b = rng.standard_normal((5, 8)), rng.standard_normal((3, 8)), rng.standard_normal(3)
    la, lw, lb = (loupe.tensor(v, requires_grad=True) for v in (a, w, b))
    ta, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, w, b))
    loss_l = loupe.nn.functional.gelu(loupe.nn.functional.linear(la, lw, lb)).softmax(-1).log().mean()
    loss_t = torch.nn.functional.gelu(torch.nn.functional.linear(ta, tw, tb)).softmax(-1).log().mean()
    loss_l.backward()
    loss_t.backward()
    assert abs(loss_l.item() - loss_t.item()) < 1e-12
    for l, t in ((la, ta), (lw, tw), (lb, tb)):
        np.testing.assert_allclose(l.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-13)
