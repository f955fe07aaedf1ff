# Sourced by ./run and tests/isa/test_isa.sh (they define say and JOBS).
# Builds one tree with one line of progress; the compiler's output goes to DIR/build.log and is
# shown when the build fails, and any warning is shown too (the builds are meant to have none).
build_tree() {
  local dir=$1 what=$2 log=$1/build.log line
  shift 2
  say "building $what ($dir)"
  if ! ninja -C "$dir" -j "$JOBS" "$@" 2>&1 | tee "$log" | while IFS= read -r line; do
      if [[ -t 2 && $line =~ ^\[([0-9]+)/([0-9]+)\] ]]; then printf '\r      %s/%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >&2; fi
    done; then
    [ -t 2 ] && echo >&2
    tail -n 60 "$log" >&2
    echo "error: the $what build failed (its whole output: $log)" >&2
    exit 1
  fi
  [ -t 2 ] && printf '\r\033[K' >&2
  if grep -q 'warning:' "$log"; then
    say "$(grep -c 'warning:' "$log") compiler warning(s) in the $what build ($log):"
    grep -A3 'warning:' "$log" | head -n 40 >&2 || true
  fi
  return 0
}
