#!/usr/bin/env python3
"""GPT-2's reference encoder for tests/gpt2_cli.py: OpenAI's own, tiktoken (the one nanoGPT's
data/shakespeare/prepare.py uses), built offline from loupe's shipped data/gpt2/ files.

    python3 tests/gpt2/reference.py FILE...     one line of space-separated ids per FILE

tiktoken.get_encoding("gpt2") would download encoder.json and vocab.bpe; instead the same
Encoding is built from data/gpt2/, which must be byte for byte the files OpenAI published (the
SHA-256 sums tiktoken pins for them). A file's bytes are read as UTF-8 with each invalid sequence
replaced by U+FFFD (Python substitutes maximal subparts, as a WHATWG decoder does) and encoded
with encode_ordinary ("<|endoftext|>" in the text is ordinary text, as in loupe).
"""
import hashlib
import os
import sys

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "gpt2")
# The hashes tiktoken_ext/openai_public.py pins for OpenAI's published GPT-2 files.
SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}


def file_hashes(data_dir=DATA):
    """{name: (sha256 of the shipped file, the published one)}."""
    out = {}
    for name, want in SHA256.items():
        with open(os.path.join(data_dir, name), "rb") as f:
            out[name] = (hashlib.sha256(f.read()).hexdigest(), want)
    return out


def encoding(data_dir=DATA):
    """tiktoken's "gpt2" Encoding, from data_dir and no network."""
    for name, (have, want) in file_hashes(data_dir).items():
        if have != want:
            raise ValueError(f"{os.path.join(data_dir, name)}: sha256 {have}, OpenAI's file has {want}")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # "" = read the files directly, write no cache
    ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(data_dir, "vocab.bpe"), os.path.join(data_dir, "encoder.json"))
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257)


def encode_file(enc, path):
    with open(path, "rb") as f:
        return enc.encode_ordinary(f.read().decode("utf-8", errors="replace"))


if __name__ == "__main__":
    enc = encoding()
    print("\n".join(" ".join(map(str, encode_file(enc, p))) for p in sys.argv[1:]))
