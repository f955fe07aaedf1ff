"""Module and Parameter. A Module's attributes that are Parameters or Modules are registered as
they are assigned (as PyTorch's __setattr__ does); a call `block(x)` runs forward inside the
module's scope, whose dotted path is the one a C++ nn::Child call would give (nn/module.h): the
running parent's path + "." + name when the parent is running, else the registered path."""
import weakref
from collections import OrderedDict

import numpy as np

from .. import _loupe
from .._tensor import Tensor, no_grad


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
                src = _loupe._from_ndarray(np.asarray(src))
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
