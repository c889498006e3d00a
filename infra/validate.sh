#!/usr/bin/env bash
# Validates infra/template.yaml offline: expands it with aws-sam-translator, lints the
# expansion with cfn-lint, and checks it against the code's routes and tables.
# Tools are installed into .local/infra-venv (pinned). Needs the `catalog` binary built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/infra-venv"
OUT="$ROOT/target/infra"
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/cfn-lint" ] || ! "$VENV/bin/python" -c "import samtranslator" 2>/dev/null; then
  echo "[infra] installing aws-sam-translator and cfn-lint into .local/infra-venv" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "aws-sam-translator==1.115.0" "cfn-lint==1.58.0"
fi
# The transform fills pseudo parameters (AWS::Region) from the environment; any region will do.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
CATALOG="${CATALOG_BIN:-$ROOT/target/debug/catalog}"
"$CATALOG" describe > "$OUT/describe.json"
"$VENV/bin/python" "$ROOT/infra/check_template.py" "$ROOT/infra/template.yaml" "$OUT/template.expanded.json" "$OUT/describe.json"
"$VENV/bin/cfn-lint" --format parseable "$OUT/template.expanded.json"
echo "[infra] cfn-lint: expanded template is clean"
