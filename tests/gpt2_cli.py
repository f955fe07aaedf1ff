#!/usr/bin/env python3
"""GPT-2's tokenizer through the binary, id for id against OpenAI's own encoder, tiktoken
(tests/gpt2/reference.py, built offline from data/gpt2/), on the whole of tiny shakespeare and on
awkward strings; the shipped data/gpt2 files against OpenAI's published ones; decode(encode(x));
bad input.

Usage: gpt2_cli.py path/to/loupe SOURCE_ROOT (tiktoken from requirements-dev.txt; without it skipped,
or failed under LOUPE_REQUIRE_ALL=1)
"""
import os
import shutil
import subprocess
import sys
import tempfile

LOUPE, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tests", "gpt2"))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from reference_env import require  # noqa: E402

require("tiktoken")
import reference  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# The shipped files are OpenAI's, byte for byte.
for name, (have, want) in reference.file_hashes(os.path.join(ROOT, "data", "gpt2")).items():
    check(have == want, f"data/gpt2/{name} is OpenAI's published file (sha256 {have[:16]}…)")
enc = reference.encoding(os.path.join(ROOT, "data", "gpt2"))

AWKWARD = {
    "ascii": b"Hello world! It's 2026, isn't it? I'll say: we've they're you'd 'S 'T X'm.",
    "emoji": "emoji 🙂 👩‍👩‍👧‍👦 family 🇫🇷🇯🇵 flags 👍🏽 tone ❤️ 🧑🏿‍🚀x🙂🙂🙂".encode(),
    "combining": "e\u0301 a\u0308 n\u0303o Z\u0324\u0354\u0367\u0311a\u0308\u0356\u032dl\u036eg\u030c o\u0319\u0314 \u0301\u0301start".encode(),
    "cjk": "日本語のテキスト、中文（简体）。한국어 텍스트!漢字かなカナ１２３".encode(),
    "rtl_math": "مرحبا بالعالم ١٢٣ שלום ∑∫√∞≈ ℝ 𝔸𝕭 ½ Ⅻ ³ 3.14159 1,000,000".encode(),
    "invalid_utf8": b"\xff\xfe abc \xc3\x28 d\xe2\x82 e\xed\xa0\x80 f\xf0\x9f\x98 g\xc0\xaf h\xf4\x90\x80\x80 i\x80\x80"
                    b" j\xe0\x80\xaf \xed\xa0\xbd\xed\xb8\x80 \xf5\xf8\xfc\xfe end\xe2",
    "spaces_long": b" " * 5000 + b"x" + b"\t \n" * 300 + b"\n" * 1000 + b"a" + b" " * 777,
    "unicode_spaces": "a\u00a0b\u2003c\u3000d\ufeffe\u0085f\u180eg\u2028h\u2029i  \u00a0 j\r\n\r\nk\x0b\x0cl".encode(),
    "controls": b"\x00\x01\x02 \x1b[31mred\x1b[0m \x7f\x08",
    # Where tiktoken's \s (Unicode White_Space) and JavaScript's differ: U+0085 is a space, U+FEFF not.
    "nel_bom": "x!\u0085y \ufeff!z\u0085\u0085!\u0085 \ufeff\ufeff a\u0085\n\ufeff".encode(),
    "long_runs": b"a" * 3000 + b" " + b"ab" * 2000 + b" " + b"7" * 1500 + b" " + b"!?" * 700,
    "newlines": b"a\n\nb\n\n\nc \n d\n \ne\n",
    "empty": b"",
}

tmp = tempfile.mkdtemp(prefix="gpt2_cli_")
try:
    names = list(AWKWARD)
    files = []
    for n in names:
        p = os.path.join(tmp, n + ".txt")
        with open(p, "wb") as f:
            f.write(AWKWARD[n])
        files.append(p)
    for n, p in zip(names, files):
        r = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "-i", p], capture_output=True, text=True)
        ours = r.stdout.split()
        want = [str(i) for i in reference.encode_file(enc, p)]
        detail = ""
        if ours != want:
            k = next((j for j in range(min(len(ours), len(want))) if ours[j] != want[j]), min(len(ours), len(want)))
            detail = f": first difference at id {k}: loupe {ours[k:k + 5]} tiktoken {want[k:k + 5]}"
        check(r.returncode == 0 and ours == want, f"{n}: ids equal tiktoken's ({len(ours)} ids){detail}")
        # decode(encode(x)) is x, with invalid UTF-8 read as the WHATWG decoder reads it.
        d = subprocess.run([LOUPE, "tokenizer", "decode", "-t", "gpt2"], input=r.stdout.encode(), capture_output=True)
        expect = AWKWARD[n].decode("utf-8", errors="replace").encode()
        check(d.returncode == 0 and d.stdout == expect, f"{n}: decode(encode(x)) gives x back")

    # The whole of tiny shakespeare.
    corpus = os.path.join(ROOT, "data", "tinyshakespeare.txt")
    ours = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "-i", corpus], capture_output=True, text=True)
    n = len(ours.stdout.split())
    # 338,025: nanoGPT's data/shakespeare/prepare.py (tiktoken) counts 301,966 train + 36,059 val.
    check(ours.returncode == 0 and ours.stdout.split() == [str(i) for i in reference.encode_file(enc, corpus)]
          and n == 338025, f"tinyshakespeare.txt: {n} ids, equal to tiktoken's")

    # Bad input: an id out of range, a missing data directory.
    r = subprocess.run([LOUPE, "tokenizer", "decode", "-t", "gpt2", "50257"], capture_output=True, text=True)
    check(r.returncode != 0 and "50257" in r.stderr and "out of range" in r.stderr, "decode of id 50257 is refused")
    env = dict(os.environ, LOUPE_GPT2_DIR=os.path.join(tmp, "nowhere"))
    r = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "x"], capture_output=True, text=True, env=env)
    check(r.returncode == 0, "LOUPE_GPT2_DIR without the files falls back to data/gpt2")
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "encoder.json"), "w") as f:
        f.write('{"a": 0, "b": 0}')
    with open(os.path.join(bad, "vocab.bpe"), "w") as f:
        f.write("#version: 0.2\na b\n")
    env = dict(os.environ, LOUPE_GPT2_DIR=bad)
    r = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "x"], capture_output=True, text=True, env=env)
    check(r.returncode != 0 and "encoder.json" in r.stderr and "twice" in r.stderr,
          "an encoder.json giving one id twice is refused, naming the file: " + r.stderr.strip()[-160:])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{len(failures)} failure(s)" if failures else "all passed")
sys.exit(1 if failures else 0)
