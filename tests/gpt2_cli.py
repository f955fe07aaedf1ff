#!/usr/bin/env python3
"""GPT-2's tokenizer through the binary, id for id against the reference encoder (npm
gpt-3-encoder 1.1.4 run by node: tests/gpt2/reference_encode.js), on the whole of tiny
shakespeare and on awkward strings; the shipped data/gpt2 files against the package's own;
decode(encode(x)); bad input.

Usage: gpt2_cli.py path/to/loupe SOURCE_ROOT
The reference is installed by `./run test` (tests/gpt2/install_reference.sh build/gpt2-ref);
LOUPE_GPT2_REF names another directory.
"""
import os
import shutil
import subprocess
import sys
import tempfile

LOUPE, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
REF = os.environ.get("LOUPE_GPT2_REF", os.path.join(ROOT, "build", "gpt2-ref"))
REF_JS = os.path.join(ROOT, "tests", "gpt2", "reference_encode.js")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


pkg = os.path.join(REF, "node_modules", "gpt-3-encoder")
if not os.path.isfile(os.path.join(pkg, "Encoder.js")) or shutil.which("node") is None:
    print(f"FAIL the reference encoder is not installed in {REF} (or node is missing): "
          f"run tests/gpt2/install_reference.sh {REF} (./run test does)")
    sys.exit(1)

# The shipped files are the package's, byte for byte.
for name in ("encoder.json", "vocab.bpe"):
    with open(os.path.join(ROOT, "data", "gpt2", name), "rb") as a, open(os.path.join(pkg, name), "rb") as b:
        check(a.read() == b.read(), f"data/gpt2/{name} equals gpt-3-encoder's")

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
    ref = subprocess.run(["node", REF_JS, REF, "--whole", *files], capture_output=True, text=True)
    check(ref.returncode == 0, "reference encoder runs on the awkward strings" + (": " + ref.stderr[-500:] if ref.returncode else ""))
    ref_lines = ref.stdout.split("\n")
    for i, (n, p) in enumerate(zip(names, files)):
        r = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "-i", p], capture_output=True, text=True)
        ours = r.stdout.strip()
        want = ref_lines[i].strip() if i < len(ref_lines) else None
        detail = ""
        if ours != want and want is not None:
            a, b = ours.split(), want.split()
            k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
            detail = f": first difference at id {k}: loupe {a[k:k + 5]} reference {b[k:k + 5]}"
        check(r.returncode == 0 and ours == want, f"{n}: ids equal the reference ({len(ours.split())} ids){detail}")
        # decode(encode(x)) is x, with invalid UTF-8 read as the WHATWG decoder reads it.
        d = subprocess.run([LOUPE, "tokenizer", "decode", "-t", "gpt2"], input=r.stdout.encode(), capture_output=True)
        expect = AWKWARD[n].decode("utf-8", errors="replace").encode()
        check(d.returncode == 0 and d.stdout == expect, f"{n}: decode(encode(x)) gives x back")

    # The whole of tiny shakespeare (the reference in pieces; the pieces agree with one call on a prefix).
    corpus = os.path.join(ROOT, "data", "tinyshakespeare.txt")
    with open(corpus, "rb") as f:
        prefix = f.read(40000)
    pre = os.path.join(tmp, "prefix.txt")
    with open(pre, "wb") as f:
        f.write(prefix)
    whole = subprocess.run(["node", REF_JS, REF, "--whole", pre], capture_output=True, text=True).stdout
    pieces = subprocess.run(["node", REF_JS, REF, pre], capture_output=True, text=True).stdout
    check(whole == pieces and len(whole.split()) > 9000, "the reference in pieces equals one call (40 kB prefix)")
    ref = subprocess.run(["node", REF_JS, REF, corpus], capture_output=True, text=True)
    ours = subprocess.run([LOUPE, "tokenizer", "encode", "-t", "gpt2", "-i", corpus], capture_output=True, text=True)
    n = len(ours.stdout.split())
    # 338,025: nanoGPT's data/shakespeare/prepare.py (tiktoken) counts 301,966 train + 36,059 val.
    check(ours.returncode == 0 and ours.stdout.strip() == ref.stdout.strip() and n == 338025,
          f"tinyshakespeare.txt: {n} ids, equal to the reference's")

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
