"""The command line's pipeline from Python: train (loupe train's trainer), checkpoints,
tokenizers, safetensors files."""
import json
import os

from . import _loupe

Tokenizer = _loupe.Tokenizer


def _existing(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    return path


def train(config, out=None, *, set=(), resume=False, force=False, progress=False, stop_after=-1, evaluate=True,
          callback=None):
    """Trains as `loupe train --config C [--set k=v ...] [--out DIR]` does, with the same trainer,
    so a run from Python is bitwise the command line's. `config` is a run config file's path or a
    dict ({"model": {...}, "data": {...}, "train": {...}}); `set` overrides keys ("train.max_iters=50").
    Without `out`, nothing is written. `callback(row)` gets every metrics row (a dict: step, loss,
    lr, ... or an evaluation's train/val losses) as it is made; an exception it raises, or Ctrl-C,
    stops the run. Returns the run's summary (steps, last loss, val loss, tokens/s, seconds)."""
    if isinstance(config, dict):
        config_json, path = json.dumps(config), ""
    else:
        config_json, path = "", _existing(config, "run config")
    on_row = (lambda row: callback(json.loads(row))) if callback is not None else None
    result = _loupe._train(config_json, path, list(set), os.fspath(out) if out is not None else "", resume, force,
                           progress, stop_after, evaluate, on_row)
    return result.as_dict()


class Checkpoint:
    """A run's checkpoint (DIR/ckpt.safetensors): config, step, tokenizer, model and optimizer state."""

    def __init__(self, ck):
        self.config = json.loads(ck.config_json)
        self.step = ck.step
        self.model = ck.model
        self.tokenizer = _loupe._tokenizer_from_json(ck.tokenizer_json, "checkpoint tokenizer")
        self.optimizer_state = dict(ck.optimizer_state)

    def __repr__(self):
        return f"Checkpoint(step={self.step}, model={self.model!r}, tokenizer={self.tokenizer.type!r})"


def load_checkpoint(run_dir):
    """The checkpoint a run wrote in `run_dir` (loupe train --out run_dir), model built and loaded."""
    return Checkpoint(_loupe._load_checkpoint(_existing(run_dir, "run directory")))


def load_tokenizer(path):
    """A tokenizer from its JSON file (char, bpe or gpt2, as `loupe tokenizer` writes them)."""
    return _loupe._load_tokenizer(_existing(path, "tokenizer file"))


def save_file(tensors, path, metadata=None):
    """Writes a safetensors file (readable by safetensors.torch / numpy), atomically."""
    _loupe._save_safetensors(os.fspath(path), dict(tensors), dict(metadata or {}))


def load_file(path):
    """name -> tensor of a safetensors file (F32, F64, I64); every field is validated."""
    tensors, _ = _loupe._load_safetensors(_existing(path, "safetensors file"))
    return dict(tensors)
