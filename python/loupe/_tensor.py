"""Tensor creation, NumPy and DLPack interop, grad mode and gradcheck: the parts of loupe's Python
API written in Python, and the Tensor methods that are spellings of C++ ops (masked_fill, max)."""
import contextlib
import warnings

import numpy as np

from . import _loupe
from ._loupe import Tensor, dtype

_NP_OF = {dtype.float32: np.float32, dtype.float64: np.float64, dtype.int64: np.int64}
_NATIVE = {np.dtype(np.float32): dtype.float32, np.dtype(np.float64): dtype.float64,
           np.dtype(np.int64): dtype.int64}


class CopyWarning(UserWarning):
    """from_numpy / from_dlpack had to copy: the array's layout or dtype cannot be shared."""


# ---------------------------------------------------------------- NumPy and DLPack
def _shareable(a):
    """Why `a` cannot be viewed in place by a loupe tensor, or None when it can."""
    if not a.dtype.isnative:
        return "the array is not in native byte order"
    if a.dtype not in _NATIVE:
        return f"dtype {a.dtype} is not float32, float64 or int64"
    if not a.flags.writeable:
        return "the array is read-only"
    if not a.flags.aligned:
        return "the array is not aligned"
    if any(s < 0 or s % a.itemsize for s in a.strides):
        return f"strides {a.strides} are negative or not whole elements"
    return None


def _target_dtype(a):
    if a.dtype in _NATIVE:
        return a.dtype
    if a.dtype.kind == "f":
        return np.dtype(np.float32) if a.dtype.itemsize <= 4 else np.dtype(np.float64)
    if a.dtype.kind in "iub":
        return np.dtype(np.int64)
    raise TypeError(f"loupe tensors are float32, float64 or int64; cannot make one from dtype {a.dtype}")


def from_numpy(a):
    """A tensor sharing `a`'s memory (writes through one show in the other). Where the layout or
    dtype cannot be shared (float16, int32, bool, read-only, negative strides, byte-swapped) the
    tensor gets a copy and a CopyWarning says why."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(a).__name__}")
    why = _shareable(a)
    if why is None:
        return _loupe._from_ndarray(a)
    warnings.warn(f"loupe.from_numpy: copied, because {why}", CopyWarning, stacklevel=2)
    return _loupe._from_ndarray(np.array(a, dtype=_target_dtype(a), copy=True, order="C"))


def from_dlpack(x):
    """A tensor sharing the memory of any DLPack producer on the CPU (a PyTorch or JAX tensor, a
    NumPy array). Read-only producers (JAX arrays) and other dtypes are copied, with a CopyWarning."""
    try:
        return _loupe._from_ndarray(x)
    except TypeError as e:
        reason = str(e)
    a = np.from_dlpack(x)
    warnings.warn(f"loupe.from_dlpack: copied (shared memory not possible: {reason.splitlines()[0]})",
                  CopyWarning, stacklevel=2)
    return _loupe._from_ndarray(np.array(a, dtype=_target_dtype(a), copy=True))


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of `data` (a number, nested lists, a NumPy array, a tensor).
    Python floats give float32 (as PyTorch), ints and bools int64 (loupe has no bool dtype)."""
    if isinstance(data, Tensor):
        a = data.detach().numpy()
    else:
        a = np.asarray(data)
    if dtype is None:
        dt = _target_dtype(a)
        if a.dtype == np.float64 and not isinstance(data, np.ndarray):
            dt = np.dtype(np.float32)  # Python floats: float32, PyTorch's default
    else:
        dt = np.dtype(_NP_OF[dtype])
    t = _loupe._from_ndarray(np.array(a, dtype=dt, copy=True, order="C"))
    return _loupe._leaf(t, requires_grad) if requires_grad else t


def as_tensor(data, dtype=None):
    """`data` itself when it is a tensor of that dtype, a shared view of a NumPy array that allows
    one, else a copy (tensor())."""
    if isinstance(data, Tensor):
        return data if dtype in (None, data.dtype) else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or _NP_OF[dtype] == data.dtype) and _shareable(data) is None:
        return _loupe._from_ndarray(data)
    return tensor(data, dtype=dtype)


def _tensor_repr(t):
    body = np.array2string(t.detach().numpy(), separator=", ", prefix="tensor(", threshold=200)
    extra = "" if t.dtype == dtype.float32 else f", dtype={t.dtype!r}"
    if t.grad_fn is not None:
        extra += f", grad_fn=<{t.grad_fn}>"
    elif t.requires_grad:
        extra += ", requires_grad=True"
    return f"tensor({body}{extra})"


# ---------------------------------------------------------------- factories
def _size(size):
    if len(size) == 1 and not isinstance(size[0], int):
        return tuple(size[0])
    return tuple(size)


def _made(t, requires_grad):
    return _loupe._leaf(t, True) if requires_grad else t


def empty(*size, dtype=dtype.float32, requires_grad=False):
    return _made(_loupe._empty(_size(size), dtype), requires_grad)


def full(size, fill_value, dtype=dtype.float32, requires_grad=False):
    return _made(_loupe._full(tuple(size) if not isinstance(size, int) else (size,), fill_value, dtype),
                 requires_grad)


def zeros(*size, dtype=dtype.float32, requires_grad=False):
    return _made(_loupe._full(_size(size), 0.0, dtype), requires_grad)


def ones(*size, dtype=dtype.float32, requires_grad=False):
    return _made(_loupe._full(_size(size), 1.0, dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """start, start + step, ... below end; int64 when all three are ints, else float32 (PyTorch's rule)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _loupe.dtype.int64 if all(isinstance(v, int) for v in (start, end, step)) else _loupe.dtype.float32
    return _made(_loupe._from_ndarray(np.arange(start, end, step, dtype=_NP_OF[dtype])), requires_grad)


def _triangle(x, keep):
    n, m = x.shape[-2], x.shape[-1]
    return where(_loupe._from_ndarray(keep(n, m).astype(_NP_OF[x.dtype])), x, 0.0)


def tril(x, diagonal=0):
    """x with the elements above the `diagonal`-th diagonal set to 0 (differentiable in x)."""
    return _triangle(x, lambda n, m: np.tri(n, m, diagonal, dtype=bool))


def triu(x, diagonal=0):
    """x with the elements below the `diagonal`-th diagonal set to 0 (differentiable in x)."""
    return _triangle(x, lambda n, m: ~np.tri(n, m, diagonal - 1, dtype=bool))


def where(condition, input, other):
    """input where condition != 0, else other; either may be a Python number (a 0-d tensor of the
    other's dtype). Gradients flow to input and other, never to condition."""
    if not isinstance(input, Tensor):
        input = _loupe._full((), float(input), other.dtype)
    if not isinstance(other, Tensor):
        other = _loupe._full((), float(other), input.dtype)
    return _loupe.where(condition, input, other)


def masked_fill(input, mask, value):
    """input with `value` wherever mask != 0 (mask: 1/0 in any dtype, e.g. a comparison's result)."""
    return where(mask, value, input)


# ---------------------------------------------------------------- random numbers
_MASK64 = (1 << 64) - 1


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class Generator:
    """Counter-based randomness: draw k of a generator seeded s uses the seed splitmix64(s + k) of
    loupe's Philox-style normal/uniform (element i of a draw is a pure function of that seed and i),
    so a draw never depends on threads or on what else was drawn in between by other generators."""

    def __init__(self, seed=0):
        self.manual_seed(seed)

    def manual_seed(self, seed):
        self.seed, self.draws = int(seed) & _MASK64, 0
        return self

    def initial_seed(self):
        return self.seed

    def next_seed(self):
        s = _splitmix64((self.seed + self.draws) & _MASK64)
        self.draws += 1
        return s


default_generator = Generator(0)


def manual_seed(seed):
    """Reseeds the default generator (randn, rand, and layer initialisation draw from it)."""
    return default_generator.manual_seed(seed)


def _seed(generator, seed):
    if seed is not None:
        return int(seed) & _MASK64
    return (generator or default_generator).next_seed()


def randn(*size, generator=None, seed=None, dtype=dtype.float32, requires_grad=False):
    """Standard normal samples; `seed=` draws exactly the tensor C++'s Tensor::normal(shape, 0, 1, seed) does."""
    return _made(_loupe._normal(_size(size), 0.0, 1.0, _seed(generator, seed), dtype), requires_grad)


def rand(*size, generator=None, seed=None, dtype=dtype.float32, requires_grad=False):
    """Uniform samples in [0, 1)."""
    return _made(_loupe._uniform(_size(size), 0.0, 1.0, _seed(generator, seed), dtype), requires_grad)


# ---------------------------------------------------------------- grad mode, gradcheck
class no_grad(contextlib.ContextDecorator):
    """Ops record no graph inside: `with loupe.no_grad():` or `@loupe.no_grad()`."""

    def __enter__(self):
        self._guard = _loupe.no_grad()
        self._guard.__enter__()
        return self

    def __exit__(self, *exc):
        self._guard.__exit__(*exc)
        return False


class GradcheckError(AssertionError):
    """gradcheck found an analytic gradient that disagrees with finite differences."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, seed=1234, raise_exception=True):
    """Checks fn's gradients with respect to every input against central finite differences, in
    float64 (the inputs are converted). fn takes the inputs as arguments and returns one tensor; a
    non-scalar result is reduced with fixed random weights so every element counts. Returns a
    truthy GradcheckResult; raises GradcheckError on a mismatch unless raise_exception=False."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    result = _loupe._gradcheck(lambda xs: fn(*xs), list(inputs), eps, atol, rtol, seed)
    if not result.ok and raise_exception:
        raise GradcheckError(result.report)
    return result


# ---------------------------------------------------------------- Tensor methods written in Python
def _max(t, dim=None, keepdim=False):
    """max() of all elements, or (values, indices) along `dim`, as PyTorch."""
    if dim is None:
        return t.amax()
    return t.amax(dim, keepdim=keepdim), t.argmax(dim, keepdim=keepdim)


def _min(t, dim=None, keepdim=False):
    if dim is None:
        return t.amin()
    return t.amin(dim, keepdim=keepdim), (-t.detach()).argmax(dim, keepdim=keepdim)


def _scalar(t, kind):
    if t.numel() != 1:
        raise ValueError(f"only one-element tensors can be converted to Python scalars (this one has {t.numel()})")
    return kind(t.item())


def _bool(t):
    if t.numel() != 1:
        raise ValueError("the truth value of a tensor with more than one element is ambiguous")
    return t.item() != 0


def _index(t):
    if t.dtype != dtype.int64 or t.numel() != 1:
        raise TypeError("only one-element int64 tensors can be used as an index")
    return int(t.item())


def _clone(t):
    """A copy with its own memory; differentiable (its gradient is the identity)."""
    return (t * 1.0) if t.requires_grad else _loupe._from_ndarray(t.numpy().copy())


def _tolist(t):
    return t.detach().numpy().tolist()


def _array(t, dtype=None, copy=None):
    a = t.detach().numpy()
    return a if dtype is None else a.astype(dtype)


_METHODS = {
    "__repr__": _tensor_repr, "__str__": _tensor_repr, "__bool__": _bool, "__index__": _index,
    "__float__": lambda t: _scalar(t, float), "__int__": lambda t: _scalar(t, int),
    "__array__": _array, "tolist": _tolist, "clone": _clone, "max": _max, "min": _min,
    "where": lambda t, condition, other: where(condition, t, other),
    "masked_fill": masked_fill,
    "float": lambda t: t.to(dtype.float32), "double": lambda t: t.to(dtype.float64), "long": lambda t: t.to(dtype.int64),
    "new_zeros": lambda t, *size, dtype=None: zeros(*size, dtype=dtype or t.dtype),
    "new_ones": lambda t, *size, dtype=None: ones(*size, dtype=dtype or t.dtype),
    "new_tensor": lambda t, data, dtype=None: tensor(data, dtype=dtype or t.dtype),
    "requires_grad_": lambda t, requires_grad=True: (setattr(t, "requires_grad", requires_grad), t)[1],
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.__module__ = "loupe"
