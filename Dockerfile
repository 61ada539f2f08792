# citycat: one image for every Airflow role (api-server, scheduler, dag-processor, triggerer,
# Celery worker), the one-shot `airflow-init` and the feed service (`citycat serve`).
# Installs the exact versions of requirements.lock (Airflow's constraint files are not reachable
# from every build machine), then the project itself. Build: docker compose build
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/citycat/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CITYCAT_SOURCES=/opt/citycat/sources.yaml \
    CITYCAT_DATA_DIR=/data \
    GX_ANALYTICS_ENABLED=false

# libpq5 for psycopg's fallbacks; tini reaps the task processes Celery and Airflow fork.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 citycat \
 && mkdir -p /opt/airflow /data /opt/citycat \
 && chown -R 50000:0 /opt/airflow /data

WORKDIR /opt/citycat
# The lock first, so that code changes do not re-install ~180 pinned packages.
COPY requirements.lock ./
RUN pip install -r requirements.lock "setuptools>=70.1" wheel
COPY . .
RUN pip install --no-deps --no-build-isolation . \
 && python -c "import citycat.cli, harvesters, transforms, inventory, publish"

USER 50000
VOLUME ["/data"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
