"""loupe.nn from Python: a Module subclassed in Python registers, names, saves and loads its
parameters as PyTorch's does, and a small model trains to PyTorch 2's numbers step for step."""
import numpy as np
import pytest
import torch

import loupe
import loupe.nn as nn
import loupe.nn.functional as F


class TinyLM(nn.Module):
    """Embedding, a pre-norm block with causal self-attention and an MLP, a tied LM head."""

    def __init__(self, vocab=11, dim=8, heads=2, dtype=loupe.float64):
        super().__init__()
        self.heads = heads
        self.wte = nn.Embedding(vocab, dim, dtype=dtype)
        self.ln_1 = nn.LayerNorm(dim, dtype=dtype)
        self.c_attn = nn.Linear(dim, 3 * dim, dtype=dtype)
        self.ln_2 = nn.RMSNorm(dim, dtype=dtype)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim, dtype=dtype), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * dim, dim, dtype=dtype))
        self.ln_f = nn.LayerNorm(dim, bias=False, dtype=dtype)

    def forward(self, ids):
        B, T = ids.shape
        x = self.wte(ids)
        q, k, v = self.c_attn(self.ln_1(x)).split(x.shape[-1], dim=2)
        heads = [t.view(B, T, self.heads, -1).transpose(1, 2) for t in (q, k, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + y.transpose(1, 2).contiguous().view(B, T, -1)
        x = x + self.mlp(self.ln_2(x))
        return self.ln_f(x) @ self.wte.weight.T


class TorchTinyLM(torch.nn.Module):
    def __init__(self, vocab=11, dim=8, heads=2):
        super().__init__()
        self.heads = heads
        self.wte = torch.nn.Embedding(vocab, dim, dtype=torch.float64)
        self.ln_1 = torch.nn.LayerNorm(dim, dtype=torch.float64)
        self.c_attn = torch.nn.Linear(dim, 3 * dim, dtype=torch.float64)
        self.ln_2 = torch.nn.RMSNorm(dim, eps=1e-5, dtype=torch.float64)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, 4 * dim, dtype=torch.float64),
                                       torch.nn.GELU(approximate="tanh"),
                                       torch.nn.Linear(4 * dim, dim, dtype=torch.float64))
        self.ln_f = torch.nn.LayerNorm(dim, bias=False, dtype=torch.float64)

    def forward(self, ids):
        B, T = ids.shape
        x = self.wte(ids)
        q, k, v = self.c_attn(self.ln_1(x)).split(x.shape[-1], dim=2)
        heads = [t.view(B, T, self.heads, -1).transpose(1, 2) for t in (q, k, v)]
        y = torch.nn.functional.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + y.transpose(1, 2).contiguous().view(B, T, -1)
        x = x + self.mlp(self.ln_2(x))
        return self.ln_f(x) @ self.wte.weight.T


NAMES = ["wte.weight", "ln_1.weight", "ln_1.bias", "c_attn.weight", "c_attn.bias", "ln_2.weight",
         "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "ln_f.weight"]


def test_parameters_register_by_assignment_with_dotted_names():
    m = TinyLM()
    assert [n for n, _ in m.named_parameters()] == NAMES
    assert list(m.state_dict()) == NAMES
    assert m.num_parameters() == sum(p.numel() for p in m.parameters())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in m.parameters())
    assert m.mlp[0].path() == "mlp.0" and m.ln_f.bias is None
    assert "(c_attn): Linear(in_features=8, out_features=24, bias=True)" in repr(m)
    m.eval()
    assert not m.training and not m.mlp[1].training
    m.register_buffer("mask", loupe.ones(2))
    assert "mask" in m.state_dict()
    del m.ln_2
    assert "ln_2.weight" not in m.state_dict()


def test_state_dict_round_trips_and_errors_name_keys():
    a, b = TinyLM(), TinyLM()
    b.load_state_dict(a.state_dict())
    ids = loupe.tensor([[1, 2, 3, 4]])
    np.testing.assert_array_equal(a(ids).detach().numpy(), b(ids).detach().numpy())
    sd = a.state_dict()
    del sd["ln_1.bias"]
    sd["extra"] = loupe.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['ln_1.bias'\], unexpected keys \['extra'\]"):
        b.load_state_dict(sd)
    sd = a.state_dict()
    sd["ln_1.bias"] = loupe.zeros(3)
    with pytest.raises(ValueError, match="'ln_1.bias' has shape"):
        b.load_state_dict(sd)


def test_trains_like_pytorch_step_for_step():
    loupe.manual_seed(0)
    model, ref = TinyLM(), TorchTinyLM()
    ref.load_state_dict({k: torch.from_dlpack(v) for k, v in model.state_dict().items()})
    opt = loupe.optim.AdamW(model.named_parameters(), lr=1e-2, weight_decay=0.1)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
    rng = np.random.default_rng(1)
    for step in range(5):
        ids = rng.integers(0, 11, size=(3, 6))
        x, y = ids[:, :-1], ids[:, 1:]
        logits = model(loupe.tensor(x))
        loss = F.cross_entropy(logits.view(-1, 11), loupe.tensor(y).view(-1))
        ref_logits = ref(torch.tensor(x))
        ref_loss = torch.nn.functional.cross_entropy(ref_logits.view(-1, 11), torch.tensor(y).view(-1))
        assert abs(loss.item() - ref_loss.item()) < 1e-10, step
        loss.backward()
        ref_loss.backward()
        opt.step()
        ref_opt.step()
        opt.zero_grad()
        ref_opt.zero_grad()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), ref.state_dict()[name].numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)


def test_dropout_masks_follow_the_module_path_and_step():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(x)

    x = loupe.ones(64)
    loupe.set_step(7, 3)
    a = Net()(x).numpy().copy()
    loupe.set_step(7, 3)
    b = Net()(x).numpy().copy()
    loupe.set_step(7, 4)
    c = Net()(x).numpy().copy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) == {0.0, 2.0}
    net = Net().eval()
    assert net(x) is not None and np.array_equal(net(x).numpy(), x.numpy())


def test_module_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(loupe.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Bad()
    m = nn.Module()
    with pytest.raises(KeyError, match="contain no '.'"):
        m.add_module("a.b", nn.Identity())
    with pytest.raises(NotImplementedError):
        m(loupe.zeros(1))
    with pytest.raises(ValueError, match="last dim only"):
        nn.LayerNorm((2, 3))
