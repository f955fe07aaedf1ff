#!/usr/bin/env bash
# Runs the libFuzzer targets of build/fuzz (./run fuzz builds them first).
#   tests/fuzz/run_fuzz.sh [target ...] [--seconds N]     (default: every target, 60 s each)
# Each target starts from its seeds (tests/fuzz/seeds/<target>/, real files) and the regression
# inputs of earlier findings (tests/fuzz/regressions/<target>/), and grows a working corpus in
# build/fuzz/corpus/<target>/. A crash, sanitizer report, hang (> 10 s for one input) or
# allocation over 2 GiB stops it with the input saved in build/fuzz/artifacts/<target>/; copy it
# into tests/fuzz/regressions/<target>/ when fixed, and the normal test suite replays it forever.
set -euo pipefail
cd "$(dirname "$0")/../.."
ALL=(safetensors npy tokenizer token_cache trace config checkpoint)
SECONDS_EACH=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
status=0
for t in "${targets[@]}"; do
  exe=build/fuzz/tests/fuzz/fuzz_$t
  [ -x "$exe" ] || { echo "error: no fuzz target '$t' (known: ${ALL[*]})" >&2; exit 2; }
  mkdir -p "build/fuzz/corpus/$t" "build/fuzz/artifacts/$t"
  dirs=("build/fuzz/corpus/$t")
  for d in "tests/fuzz/seeds/$t" "tests/fuzz/regressions/$t"; do [ -d "$d" ] && dirs+=("$d"); done
  log=build/fuzz/artifacts/$t/last.log
  max_len=65536
  [ "$t" = checkpoint ] && max_len=131072  # its seeds, real checkpoints of every model type, reach 70 kB
  if ASAN_OPTIONS=detect_leaks=1 "$exe" -seed="${LOUPE_FUZZ_SEED:-0}" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$max_len" -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t/" "${dirs[@]}" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    printf 'fuzz %-12s ok: %s runs in %s s, coverage %s edges, corpus %s inputs\n' "$t" "$runs" "$SECONDS_EACH" "$cov" \
      "$(ls "build/fuzz/corpus/$t" | wc -l)"
  else
    echo "fuzz $t FAILED: a finding, input in build/fuzz/artifacts/$t/ (log: $log)" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==|Test unit written" "$log" | head -20 >&2 || true
    status=1
  fi
done
exit $status
