"""loupe.nn: layers as PyTorch's torch.nn names them, written in Python on loupe's fused ops.
A Module subclassed in Python registers its parameters and submodules by attribute assignment,
names them with dotted paths ("blocks.0.attn.c_attn.weight"), and runs each call inside a
module scope, so traces, random ops and state dicts see it exactly as a C++ module."""
from . import functional, init, utils
from .containers import ModuleDict, ModuleList, Sequential
from .layers import GELU, Dropout, Embedding, Identity, LayerNorm, Linear, ReLU, RMSNorm, SiLU, Sigmoid, Softmax, Tanh
from .module import Module, Parameter

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Linear", "Embedding", "LayerNorm", "RMSNorm", "Dropout",
           "GELU", "ReLU", "SiLU", "Sigmoid", "Tanh", "Softmax", "Identity", "Sequential", "ModuleList",
           "ModuleDict"]
