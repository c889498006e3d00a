#!/usr/bin/env bash
# `make package`: cargo lambda build --release --arm64 of every function, one zip each under
# target/lambda/<function>/bootstrap.zip. Installs cargo-lambda (and zig, its cross linker)
# from PyPI into .local/lambda-venv when missing. Prints the build time and each zip's size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.local/lambda-venv"
if [ ! -x "$VENV/bin/cargo-lambda" ]; then
  echo "[package] installing cargo-lambda and ziglang into .local/lambda-venv" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cargo-lambda==1.9.2" "ziglang==0.17.1"
fi
export PATH="$VENV/bin:$PATH"
functions=$(cd functions && ls -d */ | tr -d / | grep -v '^catalog$')
args=()
for f in $functions; do args+=(-p "$f"); done
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${args[@]}"
end=$(date +%s)
echo
echo "[package] built $(( ${#args[@]} / 2 )) functions in $((end - start)) s"
printf '%-20s %10s\n' function "zip bytes"
for f in $functions; do
  printf '%-20s %10s\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap.zip")"
done
