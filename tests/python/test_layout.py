"""The house rules a reader relies on, checked over the sources (docs/design.md, "Style"):
- tools/ has four rooms whose includes point one way, cli/ → audit/ → train/ → text/, and the
  library (tensor/, autograd/, nn/, models/, optim/) includes nothing from tools/;
- no source file outside tests/ is over 400 lines unless its opening comment says why
  (a line starting "Long file:");
- no function is over 80 lines (a definition that starts at column 0 and ends at its closing
  brace at column 0, which is how every source file here is formatted).
"""
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIBRARY = ["tensor", "autograd", "nn", "models", "optim"]
ROOMS = ["cli", "audit", "train", "text"]  # each may include the rooms after it, never before
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 80
# What is still over a limit, each with the work that ends it. The list only shrinks: an entry
# that is no longer over its limit fails the test too, so it is struck off when the work lands.
STILL_TOO_LONG = {
}


def sources(top, suffixes=(".cpp", ".h")):
    for base, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(d for d in dirs if d not in ("tests", "__pycache__"))
        for f in sorted(files):
            if f.endswith(suffixes):
                path = os.path.join(base, f)
                yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read().split("\n")


def all_sources():
    """The C++ of the library, tools/ and the Python package's bindings (python/src)."""
    for top in LIBRARY + ["tools", "python"]:
        yield from sources(top)


def includes(lines):
    return [m.group(1) for m in (re.match(r'\s*#include "([^"]+)"', l) for l in lines) if m]


def room_of(path):
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tools" and parts[1] in ROOMS else None


def test_rooms_depend_one_way():
    bad = []
    for path, lines in all_sources():
        mine = room_of(path)
        for inc in includes(lines):
            theirs = room_of(inc)
            if path.split("/")[0] in LIBRARY and inc.startswith("tools/"):
                bad.append(f"{path} (library) includes {inc}")
            elif mine and theirs and ROOMS.index(theirs) < ROOMS.index(mine):
                bad.append(f"{path} ({mine}/) includes {inc} ({theirs}/ depends on {mine}/, not the reverse)")
            elif mine and inc.startswith("tools/") and not theirs:
                bad.append(f"{path} includes {inc}, which is in no room")
    assert not bad, "\n".join(bad)


def test_rooms_are_all_there():
    for room in ROOMS:
        assert os.path.isfile(os.path.join(ROOT, "tools", room, "README.md")), f"tools/{room}/README.md is missing"
    flat = [f for f in os.listdir(os.path.join(ROOT, "tools")) if f.endswith((".cpp", ".h"))]
    assert not flat, f"sources directly in tools/ belong in a room: {flat}"


def check_against_the_list(over, kind, limit):
    """`over`: {name: what} of everything over the limit; the list must name exactly those of its kind."""
    listed = {k for k in STILL_TOO_LONG if (":" in k) == (kind == "function")}
    new = [f"{k}: {v}" for k, v in sorted(over.items()) if k not in listed]
    done = sorted(listed - set(over))
    assert not new, f"{kind}s over {limit} lines:\n" + "\n".join(new)
    assert not done, f"no longer over {limit} lines: strike off STILL_TOO_LONG: {done}"


def test_files_are_short_or_say_why():
    python = sources("python", (".py",))  # the Python package's modules keep the same limit
    over = {path: f"{len(lines)} lines" for path, lines in [*all_sources(), *python]
            if len(lines) > MAX_FILE_LINES and not any(l.lstrip("/ ").startswith("Long file:") for l in lines[:20])}
    check_against_the_list(over, "file", MAX_FILE_LINES)


DEFINITION = re.compile(r"^[A-Za-z_~]")
NOT_A_FUNCTION = re.compile(r"^(namespace|struct|class|enum|union|extern|using|typedef|static_assert|template <[^>]*> *(class|struct))\b")


def functions(lines):
    """(first line, length) of each definition at column 0 that has a parameter list."""
    start = None
    for i, line in enumerate(lines):
        if start is None:
            if DEFINITION.match(line) and not NOT_A_FUNCTION.match(line) and not line.rstrip().endswith(";"):
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                if line.startswith("template") and NOT_A_FUNCTION.match(nxt):
                    continue  # a class template
                start = i
        elif line.startswith("}"):
            if "(" in "".join(lines[start:start + 4]):
                yield start + 1, i - start + 1
            start = None


def function_name(line):
    m = re.search(r"([A-Za-z_~][A-Za-z_0-9:~]*)\s*\(", line)
    return m.group(1) if m else "?"


def test_functions_are_short():
    over = {}
    for path, lines in all_sources():
        for line, n in functions(lines):
            if n > MAX_FUNCTION_LINES:
                over[f"{path}:{function_name(lines[line - 1])}"] = f"line {line}, {n} lines"
    check_against_the_list(over, "function", MAX_FUNCTION_LINES)


@pytest.mark.parametrize("text,expected", [
    (["int f(int x) {", "  return x;", "}"], [(1, 3)]),
    (["template <class T>", "struct S {", "  int x;", "};"], []),
    (["static void g(", "    int a) {", "  a++;", "}", "int h();"], [(1, 4)]),
])
def test_the_function_finder_finds_functions(text, expected):
    assert list(functions(text)) == expected


def test_every_test_file_is_built():
    """Each tests/test_<name>.cpp is a suite in tests/meson.build (the list, or its own test())."""
    meson = open(os.path.join(ROOT, "tests", "meson.build"), encoding="utf-8").read()
    listed = set(re.findall(r"'(\w+)' : '(?:core|tools)'", meson))
    files = sorted(f[5:-4] for f in os.listdir(os.path.join(ROOT, "tests")) if re.fullmatch(r"test_\w+\.cpp", f))
    missing = [f"tests/test_{n}.cpp" for n in files if n not in listed and f"'test_{n}.cpp'" not in meson]
    assert not missing, "not built by tests/meson.build: " + ", ".join(missing)
    gone = sorted(n for n in listed if n not in files)
    assert not gone, "tests/meson.build lists suites without a file: " + ", ".join(gone)


def test_every_op_file_has_its_gradcheck_cases():
    """autograd/ops/<name>.cpp ↔ tests/gradcheck_cases_<name>.cpp, and the gradcheck list names it."""
    meson = open(os.path.join(ROOT, "tests", "meson.build"), encoding="utf-8").read()
    block = meson[meson.index("gradcheck_case_files = []"):meson.index("endforeach", meson.index("gradcheck_case_files = []"))]
    listed = set(re.findall(r"'(\w+)'", block)) - {"gradcheck_cases_"}
    ops = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "autograd", "ops")) if f.endswith(".cpp"))
    cases = sorted(f[len("gradcheck_cases_"):-4] for f in os.listdir(os.path.join(ROOT, "tests"))
                   if f.startswith("gradcheck_cases_") and f.endswith(".cpp"))
    assert ops == cases, f"op files {ops} and gradcheck case files {cases} should pair one to one"
    assert set(ops) == listed, f"tests/meson.build's gradcheck list {sorted(listed)} should name every op file {ops}"
