"""A nanoGPT written in Python (nanogpt.py) and loupe's C++ gpt are one model: the same weights
give bitwise the same logits both ways, and a Python-trained model saved as safetensors loads into
the C++ model (and into PyTorch) unchanged."""
import numpy as np
from safetensors.torch import load_file as torch_load

import loupe
import loupe.nn.functional as F
from nanogpt import GPT, GPTConfig

CFG = GPTConfig(vocab_size=29, block_size=16, n_layer=2, n_head=2, n_embd=32, bias=True, activation="gelu_tanh", seed=5)


def cpp_model():
    return loupe.models.build({"type": "gpt", "vocab_size": CFG.vocab_size, "block_size": CFG.block_size,
                               "n_layer": CFG.n_layer, "n_head": CFG.n_head, "n_embd": CFG.n_embd,
                               "bias": CFG.bias, "activation": CFG.activation, "dropout": 0.0, "seed": CFG.seed})


IDS = loupe.tensor([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]])


def test_python_gpt_starts_from_the_cpp_weights():
    cpp, py = cpp_model(), GPT(CFG)
    theirs = cpp.state_dict()
    for name, p in py.named_parameters():
        assert np.array_equal(p.detach().numpy(), theirs[name].numpy()), name
    assert np.array_equal(py(IDS).detach().numpy(), cpp(IDS).detach().numpy())


def test_python_gpt_has_the_cpp_names_and_logits(tmp_path):
    cpp, py = cpp_model(), GPT(CFG)
    loupe.nn.init.normal_(cpp.state_dict()["transformer.h.0.mlp.c_fc.weight"], std=0.5, seed=9)  # differ first
    assert sorted(n for n, _ in py.named_parameters()) == sorted(n for n, _ in cpp.named_parameters())
    loupe.save_file(cpp.state_dict(), tmp_path / "cpp.safetensors")
    py.load_state_dict(loupe.load_file(tmp_path / "cpp.safetensors"))
    assert np.array_equal(py(IDS).detach().numpy(), cpp(IDS).detach().numpy())


def test_trained_in_python_loads_into_cpp_and_pytorch(tmp_path):
    loupe.manual_seed(4)
    py = GPT(CFG)
    opt = loupe.optim.AdamW(py.named_parameters(), lr=3e-3)
    for _ in range(3):
        logits = py(IDS[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, CFG.vocab_size), IDS[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad()
    loupe.save_file(py.state_dict(), tmp_path / "py.safetensors")
    cpp = cpp_model()
    cpp.load_state_dict(loupe.load_file(tmp_path / "py.safetensors"))
    assert np.array_equal(cpp(IDS).detach().numpy(), py(IDS).detach().numpy())
    theirs = torch_load(str(tmp_path / "py.safetensors"))
    for name, p in py.named_parameters():
        assert np.array_equal(theirs[name].numpy(), p.detach().numpy())
