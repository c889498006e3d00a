#!/usr/bin/env bash
# The Python tools of infra/ in .local/infra-venv, pinned: aws-sam-translator (the SAM
# transform CloudFormation runs), cfn-lint, and boto3 (deploy.py). Installs what is missing
# or at another version; prints nothing when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/infra-venv"
PINS=("aws-sam-translator==1.115.0" "cfn-lint==1.58.0" "boto3==1.44.8")
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${PINS[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
except PackageNotFoundError:
    sys.exit(1)
PY
then
  exit 0
fi
echo "[infra] installing ${PINS[*]} into .local/infra-venv" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
