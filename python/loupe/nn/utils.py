"""loupe.nn.utils: gradient clipping as torch.nn.utils spells it."""
from .._loupe import clip_coefficient as _coefficient
from .._loupe import clip_grad_norm_ as _clip
from .._loupe import grad_global_norm as _norm


def clip_grad_norm_(parameters, max_norm):
    """Scales every gradient in place by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the global norm over
    all of them (summed in float64 in a fixed order: the same bits on any thread count), and
    returns ‖g‖ before clipping, as a float."""
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    return _clip(params, float(max_norm))


def clip_coefficient(parameters, max_norm):
    """(‖g‖, factor) without touching the gradients: pass the factor to optimizer.step(grad_scale=)
    and the gradients are scaled inside the fused update, as `loupe train` clips (bitwise its steps)."""
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    norm = _norm(params)
    return norm, _coefficient(norm, float(max_norm))
