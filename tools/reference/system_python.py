"""Import numpy/torch for the reference scripts, from Debian's python3 if need be.

A pyenv or venv python3 on PATH may lack Debian's python3-torch and python3-numpy; then the script
is run again with /usr/bin/python3 (once). If they are missing there too, it exits 77, meson's
"skipped", with a note saying what to install.
"""
import importlib
import os
import sys

SYSTEM = "/usr/bin/python3"


def require(*modules):
    try:
        return [importlib.import_module(m) for m in modules]
    except ImportError:
        if os.path.exists(SYSTEM) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM) \
                and not os.environ.get("LOUPE_REFERENCE_REEXEC"):
            os.environ["LOUPE_REFERENCE_REEXEC"] = "1"
            os.execv(SYSTEM, [SYSTEM] + sys.argv)
        print("SKIP: %s not installed (apt-get install python3-torch python3-numpy)" % " or ".join(modules),
              file=sys.stderr)
        sys.exit(77)
