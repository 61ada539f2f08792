#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# one role and one database for Airflow's metadata, another for the citycat inventory, so that
# neither application can read or lock the other's tables. Passwords come from the environment
# (.env), never from this file.
set -euo pipefail
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
: "${CITYCAT_DB_PASSWORD:?set CITYCAT_DB_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v citycat_pw="$CITYCAT_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE citycat LOGIN PASSWORD :'citycat_pw';
CREATE DATABASE citycat OWNER citycat;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE citycat FROM PUBLIC;
SQL
