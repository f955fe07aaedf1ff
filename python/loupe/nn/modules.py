"""Module and the layers. A Module's attributes that are Parameters or Modules are registered as
they are assigned (as PyTorch's __setattr__ does); a call `block(x)` runs forward inside the
module's scope, whose dotted path is the one a C++ nn::Child call would give (nn/module.h): the
running parent's path + "." + name when the parent is running, else the registered path."""
import math
import weakref
from collections import OrderedDict

from .. import _loupe
from .._tensor import Tensor, _seed, no_grad
from . import functional as F


class Parameter(Tensor):
    """A tensor that is a module's parameter: a leaf that requires grad (unless told otherwise),
    registered when assigned to a Module attribute. It shares `data`'s memory."""

    def __init__(self, data, requires_grad=True):
        super().__init__()
        self._assign(_loupe._leaf(data.detach(), requires_grad))


def _join(parent, name):
    return f"{parent}.{name}" if parent else name


class Module:
    """The base of every layer (PyTorch's nn.Module)."""

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_modules"] = OrderedDict()
        d["_parent"] = None  # weak reference to the module it was first registered in
        d["_name"] = ""
        d["training"] = True

    # ---- registration ----
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        if isinstance(value, Parameter):
            self._forget(name)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._forget(name)
            self.add_module(name, value)
        elif name in self._parameters and value is None:
            self._parameters[name] = None
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only reached when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(table)
            if items is not None and name in items:
                return items[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if not self._forget(name):
            object.__delattr__(self, name)

    def _forget(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return True
        self.__dict__.pop(name, None)
        return False

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"module and parameter names are non-empty and contain no '.', got {name!r}")

    def register_parameter(self, name, param):
        self._check_name(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} (nn.Parameter or None expected)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is part of the module's state (saved in state_dict when persistent) but not
        a parameter (no gradient): a causal mask, running statistics."""
        self._check_name(name)
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)

    def add_module(self, name, module):
        self._check_name(name)
        self._modules[name] = module
        if module is not None and module._parent is None and not module._name:
            module.__dict__["_parent"] = weakref.ref(self)
            module.__dict__["_name"] = name

    register_module = add_module

    # ---- the call ----
    def path(self):
        """Dotted path from the root it was first registered under ("" for a root)."""
        parent = self._parent() if self._parent is not None else None
        return _join(parent.path(), self._name) if parent is not None else ""

    def _call_path(self):
        parent = self._parent() if self._parent is not None else None
        if parent is None:
            return ""
        if _loupe._current_module() == id(parent):
            return _join(_loupe._current_module_path(), self._name)
        return _join(parent.path(), self._name)

    def __call__(self, *args, **kwargs):
        with _loupe._ModuleCall(id(self), self._call_path()):
            out = self.forward(*args, **kwargs)
            if isinstance(out, Tensor):
                _loupe._fire_module_event(out)  # the module's output, for module-level traces
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # ---- walking the tree ----
    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(memo, _join(prefix, name))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """Depth-first dotted names; a parameter shared by two places appears once, first name."""
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in modules:
            for name, p in m._parameters.items():
                if p is not None and hash(p) not in seen:
                    seen.add(hash(p))
                    yield _join(mprefix, name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield _join(mprefix, name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and grads ----
    def train(self, mode=True):
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # ---- state ----
    def state_dict(self):
        """name -> tensor (detached, sharing the parameters' memory), parameters then buffers."""
        sd = OrderedDict()
        for mprefix, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", set())
            for name, p in m._parameters.items():
                if p is not None:
                    sd.setdefault(_join(mprefix, name), p.detach())
            for name, b in m._buffers.items():
                if b is not None and name not in skip:
                    sd.setdefault(_join(mprefix, name), b.detach())
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copies values in (each keeps its own memory and dtype). strict: the names must match
        both ways. Errors name the missing and unexpected keys and any shape mismatch."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict of {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for k, dst in own.items():
            if k not in state_dict:
                continue
            src = state_dict[k]
            if not isinstance(src, Tensor):
                src = _loupe._from_ndarray(__import__("numpy").asarray(src))
            if tuple(src.shape) != tuple(dst.shape):
                raise ValueError(f"load_state_dict: '{k}' has shape {tuple(src.shape)} in the state dict, "
                                 f"{tuple(dst.shape)} in the module")
            with no_grad():
                dst.copy_(src.to(dst.dtype))
        return missing, unexpected

    # ---- printing ----
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"


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


class ModuleList(Module):
    """Submodules named "0", "1", ...; `layers[i](x)` calls item i in its scope."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """Named submodules added from outside (nanoGPT's `transformer`)."""

    def __init__(self, modules=None):
        super().__init__()
        for name, m in dict(modules or {}).items():
            self.add_module(name, m)

    def __getitem__(self, name):
        return self._modules[name]

    def __setitem__(self, name, module):
        self.add_module(name, module)

    def __contains__(self, name):
        return name in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()


class Sequential(ModuleList):
    """Calls its modules in order, each in its scope."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x
