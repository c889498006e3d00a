#!/usr/bin/env bash
# `make deploy STAGE=dev|staging|prod`: checks the AWS credentials and the stage's token
# secret first (nothing is built without them), builds every function (`make package`:
# cargo lambda, arm64) unless DEPLOY_BUILD=0 (CI deploys the zips its package job built),
# and the web app (`make web`), then deploys the stack kirana-catalog-<stage> and copies the
# web app to it (infra/deploy.py says how).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAGE="${1:?usage: deploy.sh dev|staging|prod [build: 1|0]}"
BUILD="${2:-1}"
case "$STAGE" in dev|staging|prod) ;; *) echo "[deploy] STAGE must be dev, staging or prod (got '$STAGE')" >&2; exit 2 ;; esac
infra/venv.sh
PY="$ROOT/.local/infra-venv/bin/python"
"$PY" infra/deploy.py --stage "$STAGE" --check
if [ "$BUILD" = 1 ]; then
  infra/package.sh
  make --no-print-directory web
fi
"$PY" infra/deploy.py --stage "$STAGE"
