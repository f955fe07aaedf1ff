"""loupe.models: the registry's language models from Python.

    model = loupe.models.build({"type": "gpt", "vocab_size": 65, "block_size": 64, "n_layer": 2,
                                "n_head": 2, "n_embd": 64})
    logits = model(loupe.tensor([[1, 2, 3]]))          # [1, 3, 65]
    new_ids = model.generate([1, 2, 3], max_new_tokens=20, temperature=0.8, top_k=10)

A model is the C++ model itself: its named_parameters() are the tensors its forward uses, so
loupe.optim can train it, and state_dict() shares its memory."""
import json
import os

from . import _loupe

LanguageModel = _loupe.LanguageModel
LanguageModel.config = property(lambda self: json.loads(self._config_json()),
                                doc="the model's full config (every key, defaults included)")
LanguageModel.__repr__ = lambda self: (f"loupe.models.LanguageModel(type={self.config['type']!r}, "
                                       f"parameters={self.num_parameters():,})")


def types():
    """The registered model types, each with its one-line summary."""
    return {t: _loupe._model_summary(t) for t in _loupe._model_types()}


def build(config, **overrides):
    """A model of the registry built from `config`: a dict of the "model" section's keys (with
    "type"), a run config dict (its "model" section is used), or the path of a JSON file holding
    either; `overrides` set keys (a run config leaves vocab_size to its tokenizer:
    build("configs/gpt-baby.json", vocab_size=65)). Unknown keys, types and ranges are errors that
    name the key."""
    if isinstance(config, (str, os.PathLike)):
        with open(config) as f:  # FileNotFoundError naming it when missing
            config = json.load(f)
    if not isinstance(config, dict):
        raise TypeError(f"build: config must be a dict or a path, got {type(config).__name__}")
    if "model" in config and isinstance(config["model"], dict):
        config = config["model"]
    config = dict(config, **overrides)
    if "type" not in config:
        raise ValueError(f"build: the model config has no 'type' (one of {sorted(types())})")
    return _loupe._build_model(json.dumps(config))
