#!/usr/bin/env bash
# Create ./.venv with the locked, tested versions and install citycat into it (editable).
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet -r requirements.lock "setuptools>=70.1" wheel
# No build isolation: editable install with the venv's setuptools (>=70.1 has bdist_wheel built in).
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
echo "citycat installed in $(pwd)/.venv"
