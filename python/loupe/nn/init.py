"""loupe.nn.init: filling parameters in place, as torch.nn.init does (under no_grad), with loupe's
counter-based random numbers: a draw is a pure function of its seed, so initial weights do not
depend on construction order or threads. `param_seed(seed, name)` is the seed C++ models give the
parameter `name` (nn/init.h), so a Python model can start from a C++ model's exact weights."""
from .. import _loupe
from .._tensor import _seed, no_grad

param_seed = _loupe.param_seed


def normal_(tensor, mean=0.0, std=1.0, generator=None, seed=None):
    """tensor ← N(mean, std²) samples (Tensor::normal of the seed: `seed`, else the generator's next)."""
    with no_grad():
        return tensor.copy_(_loupe._normal(tensor.shape, mean, std, _seed(generator, seed), tensor.dtype))


def uniform_(tensor, a=0.0, b=1.0, generator=None, seed=None):
    """tensor ← U[a, b) samples."""
    with no_grad():
        return tensor.copy_(_loupe._uniform(tensor.shape, a, b, _seed(generator, seed), tensor.dtype))


def zeros_(tensor):
    with no_grad():
        return tensor.zero_()


def ones_(tensor):
    with no_grad():
        return tensor.fill_(1.0)


def constant_(tensor, value):
    with no_grad():
        return tensor.fill_(value)
