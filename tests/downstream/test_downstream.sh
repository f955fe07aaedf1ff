#!/usr/bin/env bash
# loupe as a library (docs/library.md), checked the way a user meets it:
#  1. `meson install` of the release build into a staging directory (DESTDIR): headers, libloupe.so, loupe.pc;
#  2. every header of the library directories is installed or named internal below, and each installed
#     header compiles on its own with only `pkg-config --cflags loupe` (no source tree, no xsimd, no OpenMP);
#  3. examples/downstream, a separate meson project, finds that install through pkg-config (no fallback),
#     builds, trains its 2-layer model, saves safetensors and reloads them bitwise;
#  4. the same project with loupe as a meson subproject (subprojects/loupe -> this tree).
# Usage: tests/downstream/test_downstream.sh [build dir, default build/release]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build/release}
WORK=$ROOT/build/downstream
JOBS=${LOUPE_JOBS:-$(nproc)}
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "test_downstream: FAILED: $*" >&2; exit 1; }
say() { echo "test_downstream: $*" >&2; }

# Headers that stay out of the install: they pull in xsimd or OpenMP (their types depend on the
# -march loupe was built with), or belong to the CLI.
INTERNAL="tensor/simd.h tensor/parallel.h optim/simd_loop.h tools/cli/commands.h
  tensor/kernels/elementwise.h tensor/kernels/gemm.h tensor/kernels/gemm_blocking.h tensor/kernels/lanes.h
  tensor/kernels/peak.h tensor/kernels/softmax.h tensor/kernels/transpose_block.h tensor/reference/gemm.h models/wiola/modules.h"

# 1. staged install
STAGE=$WORK/stage
meson install -C "$BUILD" --destdir "$STAGE" --no-rebuild --quiet >/dev/null || fail "meson install -C $BUILD"
PC=$(find "$STAGE" -name loupe.pc | head -n1)
[ -n "$PC" ] || fail "no loupe.pc under $STAGE"
LIB=$(find "$STAGE" -name 'libloupe.so*' -type f | head -n1)
[ -n "$LIB" ] || fail "no libloupe.so under $STAGE"
export PKG_CONFIG_PATH=$(dirname "$PC") PKG_CONFIG_SYSROOT_DIR=$STAGE
export LD_LIBRARY_PATH=$(dirname "$LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
CFLAGS=$(pkg-config --cflags loupe) || fail "pkg-config --cflags loupe"
LIBS=$(pkg-config --libs loupe) || fail "pkg-config --libs loupe"
INC=$(pkg-config --variable=includedir loupe)/loupe
INC=$STAGE${INC#"$STAGE"}
[ -f "$INC/nn/module.h" ] || fail "headers not under $INC"
say "installed: $(basename "$LIB"), $(cd "$INC" && find . -name '*.h' | wc -l) headers, loupe.pc: $CFLAGS $LIBS"

# 2. the header set: complete, self-contained, free of xsimd and OpenMP
missing=()
for h in $(git ls-files 'tensor/*.h' 'autograd/*.h' 'nn/*.h' 'models/*.h' 'optim/*.h' 'tools/*.h' | grep -v '^tools/cli/pch/'); do
  case " $(echo $INTERNAL) " in *" $h "*) [ ! -e "$INC/$h" ] || fail "$h is internal but installed"; continue ;; esac
  [ -f "$INC/$h" ] || missing+=("$h")
done
[ ${#missing[@]} -eq 0 ] || fail "not installed (add to install_headers in its meson.build, or to INTERNAL here): ${missing[*]}"
if grep -rlE '#include *<(xsimd/|omp\.h)' "$INC" >/dev/null; then fail "installed headers include xsimd or omp.h: $(grep -rlE '#include *<(xsimd/|omp\.h)' "$INC")"; fi
export CFLAGS
(cd "$INC" && find . -name '*.h' | sed 's|^\./||' | sort) |
  xargs -P "$JOBS" -I{} sh -c 'printf "#include \"%s\"\n" "$1" | ${CXX:-c++} $CFLAGS -fsyntax-only -x c++ - 2>&1 ||
    { echo "test_downstream: FAILED: installed header $1 does not compile on its own with pkg-config --cflags loupe" >&2; exit 255; }' _ {}
say "every installed header compiles on its own"

# 3. examples/downstream against the staged install (pkg-config only: no fallback allowed)
meson setup "$WORK/pc" examples/downstream --wrap-mode=nofallback >/dev/null || fail "meson setup examples/downstream (pkg-config)"
grep -q "loupe" "$WORK/pc/meson-logs/meson-log.txt" && ! grep -q "Subproject loupe" "$WORK/pc/meson-logs/meson-log.txt" ||
  fail "examples/downstream did not find loupe through pkg-config"
ninja -C "$WORK/pc" -j "$JOBS" >/dev/null || fail "building examples/downstream against the install"
"$WORK/pc/tiny_lm" "$WORK/pc/tiny_lm.safetensors" || fail "tiny_lm (installed loupe)"
python3 - "$WORK/pc/tiny_lm.safetensors" <<'PY' || fail "the saved safetensors do not parse as the format"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
assert h["__metadata__"]["format"] == "pt" and "lm_head.weight" in h and "h.1.mlp.c_fc.weight" in h, sorted(h)
end = max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")
assert 8 + n + end == len(b), (8 + n + end, len(b))
print("test_downstream: tiny_lm.safetensors: %d tensors" % (len(h) - 1), file=sys.stderr)
PY

# 4. loupe as a meson subproject (built at -O1: this proves the build files, not the speed)
SUB=$WORK/sub-src
mkdir -p "$SUB/subprojects"
cp examples/downstream/meson.build examples/downstream/tiny_lm.cpp "$SUB/"
ln -s "$ROOT" "$SUB/subprojects/loupe"
env -u PKG_CONFIG_PATH -u PKG_CONFIG_SYSROOT_DIR meson setup "$WORK/sub" "$SUB" --force-fallback-for=loupe --buildtype=plain \
  -Dcpp_args=-O1 -Dloupe:mpi=disabled -Dloupe:shared_lib=false -Dloupe:benchmarks=disabled >/dev/null ||
  fail "meson setup examples/downstream with loupe as a subproject"
ninja -C "$WORK/sub" -j "$JOBS" >/dev/null || fail "building examples/downstream with loupe as a subproject"
"$WORK/sub/tiny_lm" "$WORK/sub/tiny_lm.safetensors" >/dev/null || fail "tiny_lm (loupe as a subproject)"
# Same -march, other -O and another link: the same bits (docs/numerics.md, "Same bits everywhere").
cmp -s "$WORK/pc/tiny_lm.safetensors" "$WORK/sub/tiny_lm.safetensors" ||
  fail "the subproject build's trained weights differ from the installed build's"
say "passed: staged install, headers, pkg-config build, subproject build"
