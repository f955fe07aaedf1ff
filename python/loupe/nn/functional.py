"""loupe.nn.functional: PyTorch's torch.nn.functional names on loupe's ops. Each is one loupe op
(a fused forward with a hand-written backward where loupe has one), named in the docstring."""
from .. import _loupe
from .._tensor import where  # noqa: F401  (F.where is not PyTorch's, but harmless)

relu = _loupe.relu
sigmoid = _loupe.sigmoid
tanh = _loupe.tanh
silu = _loupe.silu
softmax = _loupe.softmax
log_softmax = _loupe.log_softmax
embedding = _loupe.embedding
rope = _loupe.rope
rotate_pairs = _loupe.rotate_pairs
causal_attention = _loupe.causal_attention


def gelu(input, approximate="none"):
    """x·Φ(x) (op gelu), or GPT-2's tanh approximation with approximate="tanh" (op gelu_tanh)."""
    return _loupe.gelu(input, approximate=approximate)


def linear(input, weight, bias=None):
    """x Wᵀ + b with W [out, in] (matmul through a transposed view; nn/linear.h)."""
    return _loupe.linear(input, weight, bias)


def _check_last(name, input, normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) != 1 or input.shape[-1] != shape[0]:
        raise ValueError(f"{name}: loupe normalises over the last dim only; normalized_shape {shape} "
                         f"does not match input {input.shape}")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x − mean) / √(var + eps) · weight + bias over the last dim (op layer_norm, one fused pass)."""
    _check_last("layer_norm", input, normalized_shape)
    if weight is None:
        weight = _loupe._full((input.shape[-1],), 1.0, input.dtype)
    return _loupe.layer_norm(input, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=1e-5):
    """x / √(mean(x²) + eps) · weight over the last dim (op rms_norm)."""
    _check_last("rms_norm", input, normalized_shape)
    if weight is None:
        weight = _loupe._full((input.shape[-1],), 1.0, input.dtype)
    return _loupe.rms_norm(input, weight, eps)


def dropout(input, p=0.5, training=True):
    """Zeroes elements with probability p, scaling the rest by 1/(1−p) (op dropout). The mask is keyed
    by the run seed and step (loupe.set_step), the running module's path and the call's index, so it
    is the mask a C++ module at that path draws, on any number of threads."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
    if not training or p == 0:
        return input
    return _loupe.dropout(input, p)


def cross_entropy(input, target, ignore_index=-100, reduction="mean"):
    """Mean softmax cross-entropy of logits [N, C] against int64 targets [N], skipping ignore_index
    (op cross_entropy, fused). Only reduction="mean"; for [B, T, C] logits, view them as [B·T, C]."""
    if reduction != "mean":
        raise ValueError(f"cross_entropy: loupe computes reduction='mean' only, got {reduction!r}")
    if input.dim() != 2:
        raise ValueError(f"cross_entropy: logits must be [N, C] (got {input.shape}); use "
                         "logits.view(-1, logits.size(-1)) and targets.view(-1)")
    return _loupe.cross_entropy(input, target, ignore_index)


def linear_cross_entropy(input, weight, target, ignore_index=-100):
    """cross_entropy(input @ weight.T, target) for input [N, C] and an LM head's weight [V, C], in
    one op that makes the logits a chunk of rows at a time and never holds the [N, V] whole (op
    linear_cross_entropy; loupe's decoders train with it from a 4096-token vocabulary)."""
    return _loupe.linear_cross_entropy(input, weight, target, ignore_index)


def mse_loss(input, target):
    """mean((input − target)²)."""
    return ((input - target) ** 2).mean()


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """Causal attention [B, H, T, D] in one fused flash-style op (causal_attention): loupe has only
    the causal form, so is_causal=True is required and attn_mask must be None."""
    if not is_causal or attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: loupe's fused attention is causal only "
                         "(is_causal=True, attn_mask=None)")
    if key.shape[1] != query.shape[1] and not enable_gqa:
        raise ValueError("scaled_dot_product_attention: fewer key/value heads than query heads needs enable_gqa=True")
    return _loupe.causal_attention(query, key, value, scale=scale or 0.0, dropout_p=dropout_p)
