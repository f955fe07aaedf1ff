"""The command line's pipeline from Python: train (loupe train's trainer), checkpoints,
tokenizers, safetensors files."""
import json
import os
import shutil
import subprocess
import sys

from . import _loupe

Tokenizer = _loupe.Tokenizer
RunData = _loupe.RunData


# A missing file is the C++ core's loupe.FileError (a FileNotFoundError naming it): no checks here.
def _config_args(config, set):
    if isinstance(config, dict):
        return json.dumps(config), "", list(set)
    return "", os.fspath(config), list(set)


def open_data(config, *, set=()):
    """A run config's data as `loupe train` opens it (a loupe.RunData): `tokenizer`, the trainer's
    own batches (`training_batch(step, micro, block_size)`), any batch of a split, and the losses
    the trainer reports (`estimate_loss(model)`, `split_loss(model)`)."""
    return _loupe._open_run_data(*_config_args(config, set))


def train(config, out=None, *, set=(), resume=False, force=False, progress=False, stop_after=-1, evaluate=True,
          callback=None):
    """Trains as `loupe train --config C [--set k=v ...] [--out DIR]` does, with the same trainer,
    so a run from Python is bitwise the command line's. `config` is a run config file's path or a
    dict ({"model": {...}, "data": {...}, "train": {...}}); `set` overrides keys ("train.max_iters=50").
    Without `out`, nothing is written. `callback(row)` gets every metrics row (a dict: step, loss,
    lr, ... or an evaluation's train/val losses) as it is made; an exception it raises, or Ctrl-C,
    stops the run. Returns the run's summary (steps, last loss, val loss, tokens/s, seconds)."""
    on_row = (lambda row: callback(json.loads(row))) if callback is not None else None
    result = _loupe._train(*_config_args(config, set), os.fspath(out) if out is not None else "", resume, force,
                           progress, stop_after, evaluate, on_row)
    return result.as_dict()


class Checkpoint:
    """A run's checkpoint (DIR/ckpt.safetensors): config, step, tokenizer, model and optimizer state."""

    def __init__(self, ck):
        self.config = json.loads(ck.config_json)
        self.step = ck.step
        self.model = ck.model
        self.tokenizer = ck.tokenizer
        self.optimizer_state = dict(ck.optimizer_state)

    def __repr__(self):
        return f"Checkpoint(step={self.step}, model={self.model!r}, tokenizer={self.tokenizer.type!r})"


def load_checkpoint(run_dir):
    """The checkpoint a run wrote in `run_dir` (loupe train --out run_dir), model built and loaded."""
    return Checkpoint(_loupe._load_checkpoint(os.fspath(run_dir)))


def load_tokenizer(path):
    """A tokenizer from its JSON file (char, bpe or gpt2, as `loupe tokenizer` writes them)."""
    return _loupe._load_tokenizer(os.fspath(path))


def save_file(tensors, path, metadata=None):
    """Writes a safetensors file (readable by safetensors.torch / numpy), atomically."""
    _loupe._save_safetensors(os.fspath(path), dict(tensors), dict(metadata or {}))


def load_file(path):
    """name -> tensor of a safetensors file (F32, F64, I64); every field is validated."""
    tensors, _ = _loupe._load_safetensors(os.fspath(path))
    return dict(tensors)


def command():
    """The `loupe` command installed with this package (pip puts it beside this Python), else the
    one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "loupe")
    found = here if os.access(here, os.X_OK) else shutil.which("loupe")
    if not found:
        raise FileNotFoundError("the loupe command is neither beside this Python nor on PATH (pip install . installs it)")
    return found


def compare(configs, out, *, seeds=1, steps=None, tokens=None, minutes=None, set=(), jobs=1):
    """`loupe compare`: trains each run config × seeds on an equal budget (steps, tokens or minutes),
    each run in its own process, then evaluates every run on the whole validation split. Writes
    out/compare.md, curves.svg and compare.json, and returns compare.json (dict): per config the
    parameters, tokens/s, peak RSS, val loss mean and sd, and each run's curve of
    (tokens seen, val loss). A config may be "FILE.json:section.key=value,...". An interrupted
    compare continues where it stopped when called again."""
    args = [command(), "compare", "--out", os.fspath(out), "--seeds", str(seeds), "--jobs", str(jobs), "-q"]
    for c in configs:
        args += ["-c", os.fspath(c)]
    for flag, value in (("--steps", steps), ("--tokens", tokens), ("--minutes", minutes)):
        if value is not None:
            args += [flag, str(value)]
    for s in set:
        args += ["--set", s]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise _loupe.Error(done.stderr.strip() or f"loupe compare failed with exit code {done.returncode}")
    with open(os.path.join(os.fspath(out), "compare.json")) as f:
        return json.load(f)
