"""Autograd from Python: backward, grad accumulation, no_grad, the in-place rules, gradcheck."""
import numpy as np
import pytest

import loupe


def test_backward_gives_analytic_gradients():
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = loupe.tensor(a, requires_grad=True)
    y = (x.exp() * x).sum()  # d/dx (x e^x) = e^x (1 + x)
    assert y.grad_fn == "sum"
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(a) * (1 + a), rtol=1e-15)
    assert not x.grad.requires_grad


def test_gradients_accumulate_and_reset():
    x = loupe.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    assert x.grad is None
    x.grad = loupe.tensor([1.0, 1.0])
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]


def test_backward_with_a_seed_and_errors():
    x = loupe.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(loupe.tensor([1.0, 0.0, 2.0]))
    assert x.grad.tolist() == [2.0, 0.0, 12.0]
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * x).backward()
    with pytest.raises(ValueError, match="does not require grad"):
        loupe.tensor([1.0]).sum().backward()
    with pytest.raises(ValueError, match="floating point"):
        loupe.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="leaf"):
        (x * 2.0).requires_grad = False


def test_no_grad_records_nothing_and_allows_updates():
    w = loupe.tensor([1.0, -2.0], requires_grad=True)
    with loupe.no_grad():
        y = w * 2.0
        assert not y.requires_grad and not loupe.is_grad_enabled()
        w -= 0.5          # the PyTorch habit: updating a parameter in place
        w[0] = 10.0
    assert loupe.is_grad_enabled() and w.requires_grad and w.is_leaf
    assert w.tolist() == [10.0, -2.5]

    @loupe.no_grad()
    def evaluate(v):
        return v * v
    assert not evaluate(w).requires_grad


def test_in_place_on_a_tensor_that_needs_grad_is_refused():
    w = loupe.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__iadd__(1.0), lambda: w.zero_(), lambda: w.__setitem__(0, 5.0),
                   lambda: w.copy_(loupe.tensor([0.0, 0.0]))):
        with pytest.raises(ValueError, match="no in-place autograd"):
            change()
    assert w.tolist() == [1.0, 2.0]


def test_detach_shares_memory_and_cuts_the_graph():
    x = loupe.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    e = x.detach()
    assert e._shares_memory_with(x)


def test_gradcheck_catches_a_wrong_gradient():
    x = loupe.randn(3, 4, seed=3, dtype=loupe.float64)
    assert loupe.gradcheck(lambda a: (a * a.sigmoid()).sum(1), x)
    # `a.detach()` hides half of the gradient: the analytic one is wrong, gradcheck says where.
    with pytest.raises(loupe.GradcheckError, match="input 0"):
        loupe.gradcheck(lambda a: a * a.detach(), x)
    result = loupe.gradcheck(lambda a: a * a.detach(), x, raise_exception=False)
    assert not result and result.max_abs_err > 0.01


def test_module_paths_reach_the_core():
    import loupe.nn as nn
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(loupe._loupe._current_module_path())
            return x

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.probe = Probe()

        def forward(self, x):
            return self.probe(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.h = nn.ModuleList([Block(), Block()])

        def forward(self, x):
            for b in self.h:
                x = b(x)
            return x

    Net()(loupe.zeros(1))
    assert seen == ["h.0.probe", "h.1.probe"]
    assert loupe._loupe._current_module_path() == ""
