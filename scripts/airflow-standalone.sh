#!/usr/bin/env bash
# Start Airflow 3 (standalone: metadata DB, scheduler, dag-processor, api-server on 127.0.0.1:8080)
# with citycat's DAGs. The UI prints the admin password it generated on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/airflow ] || ./scripts/setup.sh
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export CITYCAT_SOURCES="${CITYCAT_SOURCES:-$PWD/sources.yaml}"
export CITYCAT_DATA_DIR="${CITYCAT_DATA_DIR:-$PWD/data}"
# H6 (issue 6): harvest tasks run in one pool per source host; a missing pool is never scheduled.
.venv/bin/airflow db migrate >/dev/null
.venv/bin/python -m citycat.cli airflow pools --apply --sources "$CITYCAT_SOURCES"
exec .venv/bin/airflow standalone
