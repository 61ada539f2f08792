#!/usr/bin/env bash
# Create (once) the separate virtualenv that runs pycsw for the CSW tests.
#
# pycsw 2.6.2, the newest on PyPI, needs SQLAlchemy < 2, so it cannot live in the project's
# virtualenv (SQLAlchemy 2). tests/pycsw_server.py starts it from this venv on 127.0.0.1 and the
# CSW server tests skip, naming this script, when the venv is missing.
#
#   CITYCAT_PYCSW_VENV    where the venv lives (default $HOME/.cache/citycat/pycsw-venv)
#   CITYCAT_PYCSW_PYTHON  interpreter to build it with (default python3; 3.11 is what the pins were tested with)
#
# Idempotent: a venv whose stamp matches the pins below is reused without touching the network.
set -euo pipefail

VENV="${CITYCAT_PYCSW_VENV:-$HOME/.cache/citycat/pycsw-venv}"
PYTHON="${CITYCAT_PYCSW_PYTHON:-python3}"

# Exact pins, as resolved by pip for pycsw==2.6.2 + SQLAlchemy<2 + waitress on Python 3.11 (2026-11).
PINS=(
  pycsw==2.6.2
  SQLAlchemy==1.4.54
  greenlet==3.5.6
  waitress==3.0.2
  lxml==6.1.3
  OWSLib==0.28.1
  pyproj==3.7.2
  shapely==2.2.0
  numpy==2.4.6
  xmltodict==1.0.4
  geolinks==0.2.3
  python-dateutil==4.0.0
  pytz==2026.6
  PyYAML==6.0.4
  requests==2.34.2
  urllib3==2.8.0
  certifi==2026.10.19.post1
  charset-normalizer==3.5.3
  idna==3.20
  click==8.5.1
  tzdata==2026.6
)
STAMP_TEXT="$(printf '%s\n' "${PINS[@]}")"
STAMP="$VENV/.citycat-pins"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" ]] \
   && "$VENV/bin/python" -c "import pycsw, waitress, sqlalchemy" 2>/dev/null; then
  echo "pycsw venv ready: $VENV"
  exit 0
fi

echo "creating pycsw venv at $VENV"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -c "import pycsw, waitress, sqlalchemy; assert sqlalchemy.__version__.startswith('1.')"
printf '%s' "$STAMP_TEXT" > "$STAMP"
echo "pycsw venv ready: $VENV"
