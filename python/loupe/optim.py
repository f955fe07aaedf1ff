"""loupe.optim: SGD, Adam and AdamW as torch.optim spells them, running loupe's C++ optimizers
(optim/): one fused pass per parameter, bitwise the same for any thread count.

    opt = loupe.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    loss.backward(); opt.step(); opt.zero_grad()

`params` is an iterable of tensors, of (name, tensor) pairs (model.named_parameters(): the names
key the optimizer's state_dict), or of param-group dicts {"params": ..., "lr": ..., "weight_decay": ...}.
param_groups[i]["lr"] may be changed between steps (schedules); loupe keeps one base lr with a fixed
ratio per group, so every group's lr must change by the same factor."""
from . import _loupe
from ._tensor import Tensor


def _named(params, group):
    out = []
    for i, p in enumerate(params):
        name, p = p if isinstance(p, tuple) else (f"{group}.{i}", p)
        if not isinstance(p, Tensor):
            raise TypeError(f"optimizer: parameter {name!r} is a {type(p).__name__}, not a loupe Tensor")
        if not p.requires_grad:
            raise ValueError(f"optimizer: parameter {name!r} does not require grad")
        out.append((name, p))
    return out


class Optimizer:
    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        for gi, g in enumerate(groups):
            group = dict(defaults, **{k: v for k, v in g.items() if k != "params"})
            group["params"] = _named(g["params"], gi)
            self.param_groups.append(group)
        self._base = [g["lr"] for g in self.param_groups]
        self._impl = self._make([g["params"] for g in self.param_groups],
                                [g["lr"] / self._base[0] if self._base[0] else 1.0 for g in self.param_groups],
                                [g["weight_decay"] for g in self.param_groups])

    def _lr(self):
        """The base lr from param_groups, checking that every group kept its ratio to group 0."""
        lr0 = self.param_groups[0]["lr"]
        for g, base in zip(self.param_groups, self._base):
            if abs(g["lr"] * self._base[0] - lr0 * base) > 1e-12 * max(1.0, abs(lr0 * base)):
                raise ValueError("optimizer: param_groups' lrs must keep their ratios to group 0's "
                                 "(loupe scales one base lr per step)")
        return lr0

    def step(self, closure=None, grad_scale=1.0):
        """One update of every parameter that has a gradient. grad_scale multiplies the gradients
        inside the fused update (how loupe's trainer clips: loupe.nn.utils.clip_coefficient)."""
        loss = closure() if closure is not None else None
        self._impl.lr = self._lr()
        self._impl.step(grad_scale)
        return loss

    def zero_grad(self, set_to_none=True):
        self._impl.zero_grad()

    def state_dict(self):
        """"<param name>.<slot>" -> tensor and "step", as loupe's checkpoints hold them."""
        return self._impl.state_dict()

    def load_state_dict(self, state_dict):
        self._impl.load_state_dict(dict(state_dict))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.defaults.items())})"


class SGD(Optimizer):
    """p ← p − lr·d with d the gradient (+ weight decay), momentum buffer, or Nesterov's (optim/sgd.h)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        self._momentum, self._nesterov = momentum, nesterov
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    def _make(self, named, scales, wds):
        return _loupe._sgd(named, scales, wds, self.defaults["lr"], self._momentum, self._nesterov)


class Adam(Optimizer):
    """Adam (optim/adam.h), weight decay as an L2 term in the gradient, as torch.optim.Adam."""
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self._betas, self._eps = betas, eps
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _make(self, named, scales, wds):
        return _loupe._adam(named, scales, wds, self.defaults["lr"], self._betas[0], self._betas[1], self._eps,
                            self._decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay p ← p·(1 − lr·wd), as torch.optim.AdamW (default wd 0.01)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
