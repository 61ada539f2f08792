"""docker-compose.yml: valid Compose, the roles the deployment needs, and no secret in the file.

There is no Docker daemon on the build machines, so the file is checked the two ways that need
none: against the Compose Specification's JSON schema (tests/data/compose-spec.json) and with
``docker-compose config`` (Compose's own parser and interpolation) where that command exists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
LONG_RUNNING = ("postgres", "redis", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                "airflow-triggerer", "airflow-worker", "feed")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_file_matches_the_compose_spec_schema(compose):
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_schema_check_can_fail():
    """The schema is really applied: a misspelt key and a wrong type are both reported."""
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    bad = {"services": {"x": {"image": "y", "helthcheck": {}, "ports": {"a": 1}}}}
    assert len(list(validator.iter_errors(bad))) >= 1


def _compose_command() -> list[str] | None:
    """``docker-compose``, else ``docker compose`` where the plugin answers (a docker CLI without the
    compose plugin says "unknown command"), else None."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_command() is None,
                    reason="neither docker-compose nor docker's compose plugin is installed: only the schema check ran")
def test_docker_compose_config_accepts_the_file_with_the_example_env(tmp_path):
    cmd = _compose_command()
    done = subprocess.run([*cmd, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    # and without the env file it refuses, naming the missing secret
    (tmp_path / "empty.env").write_text("")
    done = subprocess.run([*cmd, "--env-file", str(tmp_path / "empty.env"), "-f", str(COMPOSE), "config", "-q"],
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode != 0 and "in .env" in done.stderr


def test_every_role_is_there_with_health_checks_and_the_worker_scales(compose):
    services = compose["services"]
    assert set(LONG_RUNNING) | {"airflow-init"} <= set(services)
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], name
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale airflow-worker=N`
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    assert services["feed"]["command"][:2] == ["citycat", "serve"]
    assert "0.0.0.0" in services["feed"]["command"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    # metadata and inventory: one server, two databases (created by the init script)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["AIRFLOW_CONN_CITYCAT_INVENTORY"].endswith("@postgres:5432/citycat")
    init = (ROOT / "deploy" / "postgres-init.sh").read_text(encoding="utf-8")
    assert "CREATE DATABASE airflow" in init and "CREATE DATABASE citycat" in init
    assert any("postgres-init.sh:/docker-entrypoint-initdb.d/" in v for v in services["postgres"]["volumes"])
    # the pools and the metadata schema are made before anything runs
    assert "citycat airflow pools --apply" in " ".join(services["airflow-init"]["command"])
    assert services["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] == \
        "service_completed_successfully"


def test_raw_archive_and_feed_live_in_named_volumes(compose):
    assert {"citycat-data", "citycat-feed"} <= set(compose["volumes"])
    worker_mounts = compose["services"]["airflow-worker"]["volumes"]
    assert "citycat-data:/data" in worker_mounts and "citycat-feed:/data/feed" in worker_mounts
    assert "citycat-feed:/data/feed:ro" in compose["services"]["feed"]["volumes"]


def test_no_secret_in_the_file_and_every_required_variable_in_env_example(compose):
    text = COMPOSE.read_text(encoding="utf-8")
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN", key) and not key.endswith("_FILE") and value:
                assert value.startswith("${"), f"{key} holds a literal value"
            for userinfo in re.findall(r"://([^@/]*)@", value):  # credentials inside URIs
                assert "${" in userinfo, f"{key}: credentials in a URI are not taken from .env"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
                   if line and not line.startswith("#"))
    assert required and required <= set(example), required - set(example)
    assert all("change-me" in example[k] for k in required if re.search(r"PASSWORD|SECRET|FERNET", k))


def test_dockerfile_installs_the_lock_then_the_project():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11", text, re.M)
    lock, project = text.index("pip install -r requirements.lock"), text.index("pip install --no-deps")
    assert lock < project
    assert "USER 50000" in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", ".git", "data"} <= set(ignored)
