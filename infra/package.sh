#!/usr/bin/env bash
# `make package`: cargo lambda build --release --arm64 of every function, one zip each under
# target/lambda/<function>/bootstrap.zip. Installs cargo-lambda (and zig, its cross linker)
# from PyPI into .local/lambda-venv when missing. Prints the build time and each zip's size,
# and fails when a zip is over 5 MB or a binary is not linked as .cargo/config.toml says.
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
# Every zip at most 5 MB: a function's code is downloaded and unpacked on each cold start.
# README, "Cold start", says what keeps them there.
LIMIT=5000000
printf '%-24s %10s\n' function "zip bytes"
over=0
for f in $functions; do
  size=$(stat -c %s "target/lambda/$f/bootstrap.zip")
  mark=""
  if [ "$size" -gt "$LIMIT" ]; then mark="  over the $LIMIT-byte limit"; over=1; fi
  # Linked without PIE (.cargo/config.toml); a RUSTFLAGS variable in the environment would
  # replace that quietly.
  if ! readelf -h "target/aarch64-unknown-linux-gnu/release/$f" | grep -Eq 'Type: +EXEC'; then
    mark="$mark  linked as PIE (is RUSTFLAGS set?)"; over=1
  fi
  printf '%-24s %10s%s\n' "$f" "$size" "$mark"
done
exit "$over"
