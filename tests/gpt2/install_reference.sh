#!/usr/bin/env bash
# Installs the reference GPT-2 encoder (npm gpt-3-encoder, pinned by package-lock.json) into DIR
# for tests/gpt2_cli.py: tests/gpt2/install_reference.sh build/gpt2-ref
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install_reference.sh DIR}
mkdir -p "$dir"
if [ -f "$dir/node_modules/gpt-3-encoder/package.json" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
  { echo "error: npm ci of the GPT-2 reference encoder in $dir failed (is the npm registry reachable?)" >&2; exit 1; }
