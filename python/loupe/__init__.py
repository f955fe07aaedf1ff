"""loupe from Python: tensors, autograd, einsum, layers and optimizers of loupe's C++ core, with
PyTorch's names, so a PyTorch user's habits work (python/README.md says where loupe differs).

    import loupe
    x = loupe.randn(4, 3, requires_grad=True)
    y = (x ** 2).sum()
    y.backward()
    x.grad            # 2 * x

A loupe.Tensor is the C++ loupe::Var itself: every op is the C++ op, recorded and differentiated
as in a C++ program, with the GIL released while it runs.
"""
from . import _loupe
from ._loupe import (
    Error, FileError, Tensor, GradcheckResult, dtype, is_grad_enabled, ops, get_num_threads, set_num_threads,
    set_step, set_micro_batch,
    # the op registry's ops (Tensor methods too; loupe.ops() lists the registry)
    neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, silu, sin, cos, abs, pow,
    add, sub, mul, div, maximum, minimum, sum, mean, amax, amin, var, softmax, log_softmax, cumsum,
    reshape, permute, transpose, narrow, squeeze, unsqueeze, flatten, gather, index_select, scatter_add,
    split, cat, stack, matmul, einsum, argmax,
)

float32 = dtype.float32
float64 = dtype.float64
int64 = dtype.int64
dtype.__repr__ = lambda self: f"loupe.{self.name}"
dtype.__str__ = dtype.__repr__
concat = cat

from ._tensor import (  # noqa: E402  (needs the names above)
    CopyWarning, Generator, GradcheckError, arange, as_tensor, default_generator, empty, from_dlpack, from_numpy,
    full, full_like, gradcheck, manual_seed, masked_fill, no_grad, ones, ones_like, rand, randn, tensor, tril,
    triu, where, zeros, zeros_like,
)
from ._pipeline import (  # noqa: E402
    Checkpoint, RunData, Tokenizer, command, compare, load_checkpoint, load_file, load_tokenizer, open_data,
    save_file, train,
)
from ._pages import Page, explore  # noqa: E402
from . import audit, models, nn, optim  # noqa: E402

__version__ = "0.1.0"
