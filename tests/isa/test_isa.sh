#!/usr/bin/env bash
# ./run test-isa: the same bits on every instruction set this machine can run (docs/design.md,
# determinism circle 3). Builds loupe for each variant — x86-64-v3 (AVX2 + FMA) always on x86,
# x86-64-v4 (AVX-512) where the CPU has it, aarch64 NEON cross-compiled and run under
# qemu-aarch64 where g++-aarch64-linux-gnu and qemu-user are installed (./run test-isa installs
# them) — runs the kernel test suites of each build (the arm64 one under qemu), then runs
# `loupe fingerprint` (every model type trained a few tiny steps with dropout on, f32 and f64,
# hashed: weights, AdamW moments, losses) with each, and compares every line with the others and
# with the committed table tests/isa/fingerprints.txt, which other machines (and ISAs) produced.
# The native build (build/release, -march=native) is checked too when it exists. Exit 0 only if all agree; on a
# difference, traces the first differing model in two builds and prints `loupe audit diff`: the
# first op whose output bits differ, with its module path.
# After a change that is meant to change the bits: build/release/tools/loupe fingerprint > tests/isa/fingerprints.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${LOUPE_JOBS:-$(nproc)}
OUT=build/isa
GOLDEN=tests/isa/fingerprints.txt
mkdir -p "$OUT"
say() { printf '\033[1m[test-isa]\033[0m %s\n' "$*" >&2; }
source tools/build_tree.sh

variants=()
case "$(uname -m)" in
  x86_64)
    variants+=("avx2:-march=x86-64-v3")
    if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo &&
       grep -qw avx512vl /proc/cpuinfo; then
      # The native build (-march=native) of an AVX-512 CPU already runs the AVX-512 path; the
      # portable x86-64-v4 build is added with LOUPE_ISA_ALL=1 (or when there is no native build).
      if [ "${LOUPE_ISA_ALL:-0}" = 1 ] || [ ! -x build/release/tools/loupe ]; then
        variants+=("avx512:-march=x86-64-v4")
      else
        say "AVX-512: checked through the native build (LOUPE_ISA_ALL=1 adds an x86-64-v4 build)"
      fi
    else
      say "this CPU has no AVX-512: the x86-64-v4 build is skipped"
    fi ;;
  aarch64) variants+=("neon:-march=armv8-a") ;;
  *) say "no ISA variants known for $(uname -m)" ;;
esac

# The kernel suites, run by every variant's build (the arm64 one under qemu, meson's exe_wrapper):
# each instruction set's own paths (register transposes, vector Philox, ...) against the naive
# references; the whole-run check is the fingerprint.
KERNEL_SUITES=(simd gemm reduce softmax attention elementwise einsum scan index tensor_core autograd_core nn_layers)
arm64=0
if [ "$(uname -m)" = x86_64 ] && command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  arm64=1
elif [ "$(uname -m)" = x86_64 ] && [ "${LOUPE_REQUIRE_ALL:-0}" = 1 ]; then
  say "error: no aarch64 cross compiler or qemu-aarch64, and LOUPE_REQUIRE_ALL=1 allows no skip (./run test-isa installs them)"
  exit 1
else
  say "no aarch64 cross compiler or qemu-aarch64: the NEON build is skipped"
fi

declare -A bin
# Runs build $1's loupe with the remaining arguments (the arm64 one under qemu).
loupe_of() {
  local name=$1
  shift
  if [ "$name" = arm64 ]; then qemu-aarch64 -L /usr/aarch64-linux-gnu "${bin[$name]}" "$@"; else "${bin[$name]}" "$@"; fi
}
# Builds the CLI and the kernel suites in build dir $1 (configured since second $3; $2 names the
# build in messages), runs the suites with the remaining meson test arguments, and registers the
# CLI for the fingerprints as bin[$4].
build_and_check() {
  local dir=$1 label=$2 since=$3 name=$4
  shift 4
  build_tree "$dir" "$label" tools/loupe $(printf 'tests/test_%s ' "${KERNEL_SUITES[@]}")
  say "$label: built in $((SECONDS - since)) s"
  local t0=$SECONDS
  meson test -C "$dir" --no-rebuild --quiet --print-errorlogs --num-processes "$JOBS" "$@" "${KERNEL_SUITES[@]}" >&2 ||
    { say "$name: kernel suites FAILED"; exit 1; }
  say "$name: kernel suites (${KERNEL_SUITES[*]}) passed in $((SECONDS - t0)) s"
  bin[$name]=$dir/tools/loupe
}
if [ $arm64 = 1 ]; then
  t0=$SECONDS
  tests/isa/arm64_setup.sh
  build_and_check build/isa-arm64 "arm64 (aarch64 NEON, cross-compiled, suites under qemu)" $t0 arm64 --timeout-multiplier 4
fi
for v in "${variants[@]}"; do
  name=${v%%:*} flags=${v#*:} dir=build/isa-$name
  # -O1: quick to compile, and the bits must not depend on the optimisation level either (the
  # native build is -O3); the CLI and the kernel suites are built.
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" -Dtests=true >/dev/null
  else
    meson setup "$dir" --buildtype=plain -Dnative=false "-Dcpp_args=-O1 $flags" \
      -Dtests=true -Dbenchmarks=disabled -Dmpi=disabled -Dshared_lib=false >/dev/null
  fi
  build_and_check "$dir" "$name ($flags)" $SECONDS "$name"
done
[ -x build/release/tools/loupe ] && bin[native]=build/release/tools/loupe

status=0
names=("${!bin[@]}")
for name in "${names[@]}"; do
  t0=$SECONDS
  loupe_of "$name" fingerprint > "$OUT/$name.txt"
  say "$name: fingerprint in $((SECONDS - t0)) s"
done

# Every build against the committed table, line by line.
first_bad=""
for name in "${names[@]}"; do
  if diff -u "$GOLDEN" "$OUT/$name.txt" > "$OUT/$name.diff"; then
    say "$name: every line equals $GOLDEN"
  else
    status=1
    say "$name: differs from $GOLDEN:"
    grep '^[-+][a-z]' "$OUT/$name.diff" >&2 || true
    [ -n "$first_bad" ] || first_bad=$name
  fi
done

# Where: the first differing model traced in the bad build and in a good one (or another build).
if [ -n "$first_bad" ]; then
  line=$(grep '^+[a-z]' "$OUT/$first_bad.diff" | head -1 | cut -c2-)
  model=$(echo "$line" | awk '{print $1}') dtype=$(echo "$line" | awk '{print $2}')
  other=""
  for name in "${names[@]}"; do
    [ "$name" != "$first_bad" ] && ! grep -qxF "$line" "$OUT/$name.txt" && other=$name && break
  done
  if [ -n "$other" ]; then
    for name in "$first_bad" "$other"; do
      LOUPE_TRACE="$OUT/$name.$model.$dtype.jsonl" loupe_of "$name" fingerprint --model "$model" --dtype "$dtype" --steps 2 >/dev/null
    done
    say "first divergence of $model $dtype, $first_bad vs $other:"
    build/release/tools/loupe audit diff "$OUT/$first_bad.$model.$dtype.jsonl" "$OUT/$other.$model.$dtype.jsonl" >&2 || true
  else
    say "every build on this machine computes $model $dtype alike, and differently from $GOLDEN"
  fi
fi
[ $status -eq 0 ] && say "same bits: ${names[*]} and $GOLDEN agree on $(wc -l < "$GOLDEN") lines"
exit $status
