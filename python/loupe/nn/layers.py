"""The layers, as torch.nn names them, each a few lines on loupe.nn.functional. Initialised as
PyTorch initialises them, drawing from loupe's default generator (loupe.manual_seed) or `generator`."""
import math

from .. import _loupe
from .._tensor import _seed
from . import functional as F
from .module import Module, Parameter


def _uniform_param(shape, bound, dtype, generator):
    return Parameter(_loupe._uniform(shape, -bound, bound, _seed(generator, None), dtype))


class Linear(Module):
    """y = x Wᵀ + b, W [out, in]. Initialised as PyTorch's: W and b ~ U(−1/√in, 1/√in), drawn from
    the default generator (loupe.manual_seed) or `generator`."""

    def __init__(self, in_features, out_features, bias=True, dtype=_loupe.dtype.float32, generator=None):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got in={in_features} out={out_features}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = _uniform_param((out_features, in_features), bound, dtype, generator)
        if bias:
            self.bias = _uniform_param((out_features,), bound, dtype, generator)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Row lookup of a [num_embeddings, embedding_dim] table, initialised N(0, 1) as PyTorch's."""

    def __init__(self, num_embeddings, embedding_dim, dtype=_loupe.dtype.float32, generator=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(_loupe._normal((num_embeddings, embedding_dim), 0.0, 1.0, _seed(generator, None), dtype))

    def forward(self, ids):
        return F.embedding(ids, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _last_dim(normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) != 1:
        raise ValueError(f"loupe normalises over the last dim only; normalized_shape {shape} has {len(shape)} dims")
    return shape[0]


class LayerNorm(Module):
    """Layer normalisation over the last dim (weight 1, bias 0 at the start); bias=False as nanoGPT."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=_loupe.dtype.float32):
        super().__init__()
        self.dim, self.eps = _last_dim(normalized_shape), eps
        self.register_parameter("weight", Parameter(_loupe._full((self.dim,), 1.0, dtype)) if elementwise_affine else None)
        self.register_parameter("bias", Parameter(_loupe._full((self.dim,), 0.0, dtype)) if elementwise_affine and bias else None)

    def forward(self, x):
        return F.layer_norm(x, self.dim, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"({self.dim},), eps={self.eps}"


class RMSNorm(Module):
    """x / √(mean(x²) + eps) · weight over the last dim (weight 1 at the start; eps 1e-5, loupe's)."""

    def __init__(self, normalized_shape, eps=1e-5, dtype=_loupe.dtype.float32):
        super().__init__()
        self.dim, self.eps = _last_dim(normalized_shape), eps
        self.weight = Parameter(_loupe._full((self.dim,), 1.0, dtype))

    def forward(self, x):
        return F.rms_norm(x, self.dim, self.weight, self.eps)

    def extra_repr(self):
        return f"({self.dim},), eps={self.eps}"


class Dropout(Module):
    """F.dropout while training, the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _Activation(Module):
    fn = None

    def forward(self, x):
        return type(self).fn(x)


class ReLU(_Activation):
    fn = staticmethod(F.relu)


class SiLU(_Activation):
    fn = staticmethod(F.silu)


class Sigmoid(_Activation):
    fn = staticmethod(F.sigmoid)


class Tanh(_Activation):
    fn = staticmethod(F.tanh)


class Identity(Module):
    def forward(self, x):
        return x


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class Softmax(Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)
