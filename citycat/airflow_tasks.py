"""What each Airflow task does, kept out of ``dags/`` so DAG files stay pure wiring.

The functions take the task context's plain values (run id, data interval, params) and
return JSON-able dicts of paths and counts for XCom: records never travel through XCom.
Times come from the DAG run (its data interval, else ``run_after``), never from the clock,
so a retried task repeats exactly what the first try did.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from citycat import pipeline
from citycat.runner import begin_run, fail_run, finish_load

log = logging.getLogger("citycat.airflow")

DEFAULT_RETRIES = 3


def assets():
    """The inventory and feed Assets: load tasks update the first, the publish DAG waits on it."""
    from airflow.sdk import Asset

    return (Asset(name="citycat_inventory", uri="x-citycat://inventory"),
            Asset(name="citycat_feed", uri="x-citycat://feed"))


try:  # Airflow fails (not retries) a task that raises this; the DAG files import Airflow anyway
    from airflow.sdk.exceptions import AirflowFailException as _NoRetry
except ImportError:  # pragma: no cover - citycat installed without Airflow
    _NoRetry = Exception


class GateFailed(_NoRetry):
    """The quality gate blocked the load; retrying the same data cannot pass it.

    An ``AirflowFailException``: the task fails at once, without retries, and its message (the
    failing expectations and why) is what the Airflow UI shows.
    """


def sources_path() -> Path:
    return Path(os.environ.get("CITYCAT_SOURCES", "sources.yaml")).resolve()


def _source(source_id: str):
    from citycat.config import load_sources

    sources = load_sources(sources_path())
    return sources, sources.get(source_id)


def _inventory(data_dir: Path):
    """The inventory, from ``CITYCAT_DATABASE_CONN_ID`` (an Airflow connection) when set.

    Production keeps the inventory's credentials in an Airflow connection rather than in an
    environment variable visible to every process; otherwise CITYCAT_DATABASE_URL / SQLite.
    """
    conn_id = os.environ.get("CITYCAT_DATABASE_CONN_ID")
    if not conn_id:
        return pipeline.open_inventory(data_dir)
    from airflow.sdk import BaseHook

    from inventory import Inventory

    uri = BaseHook.get_connection(conn_id).get_uri()
    scheme, _, rest = uri.partition("://")
    if scheme in ("postgres", "postgresql"):
        uri = f"postgresql+psycopg://{rest}"
    inv = Inventory(uri)
    inv.migrate()
    return inv


def run_times(context: dict[str, Any]) -> tuple[datetime | None, datetime | None, datetime]:
    """(interval start, interval end, the run's reference time) from an Airflow task context.

    A manual run triggered with ``logical_date: null`` has no interval keys at all; it then
    continues from the source's last successful run (see pipeline.resolve_window).
    """
    start = pipeline.parse_time(context.get("data_interval_start"))
    end = pipeline.parse_time(context.get("data_interval_end"))
    dag_run = context.get("dag_run")
    ref = end or pipeline.parse_time(getattr(dag_run, "run_after", None)) \
        or pipeline.parse_time(context.get("logical_date"))
    if ref is None:
        raise RuntimeError("the DAG run has neither a data interval nor run_after; cannot date the run")
    if start is not None and end is not None and start == end:
        # Zero-length interval (a cron trigger timetable): no window to ask the source for.
        start = end = None
    return start, end, ref


def with_connection_secret(source):
    """The source with its API key taken from its Airflow connection (``airflow_conn_id``).

    The key (the connection's password) goes into an environment variable of this task process
    only, and the kind's key option is pointed at that variable: the harvester reads keys from
    variables, so the secret never enters the config, XCom, the logs or the raw archive.
    """
    if not source.airflow_conn_id:
        return source
    import harvesters
    from airflow.sdk import BaseHook

    harvesters.load_builtin()
    option = getattr(harvesters.get(source.kind), "api_key_option", None)
    if option is None:
        raise ValueError(f"[source={source.id}] airflow_conn_id is set but kind {source.kind!r} sends no "
                         "credentials; remove airflow_conn_id")
    secret = BaseHook.get_connection(source.airflow_conn_id).password
    if not secret:
        raise ValueError(f"[source={source.id}] Airflow connection {source.airflow_conn_id!r} has no password; "
                         "put the API key in the connection's password field")
    env_name = "CITYCAT_SECRET_" + "".join(c if c.isalnum() else "_" for c in source.id.upper())
    os.environ[env_name] = secret
    return source.model_copy(update={"options": source.options.model_copy(update={option: env_name})})


def harvest(source_id: str, *, run_id: str, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    sources, source = _source(source_id)
    source = with_connection_secret(source)
    data_dir = pipeline.data_dir_from_env()
    inventory = _inventory(data_dir)
    start, end, ref = run_times(context)
    requested = params.get("mode") or "incremental"
    mode, wstart, wend = begin_run(source, run_id, requested, since=start, until=end, now=ref, inventory=inventory)
    try:
        # a retry of this task has the same run id and window, so it continues from the last checkpoint
        # of the failed try (docs/resume.md); trigger with {"resume": false} to list the source from the start.
        out = pipeline.harvest(source, run_id, mode, window_start=wstart, window_end=wend, data_dir=data_dir,
                               replay_run=params.get("replay_run") or None,
                               resume=params.get("resume", True) is not False)
    except Exception as exc:
        fail_run(source.id, run_id, reason=f"harvest: {type(exc).__name__}: {exc}", finished_at=ref,
                 inventory=inventory)
        raise
    result = out.as_dict()
    result["run_time"] = ref.isoformat()
    log.info("%s: harvested %d records (%s) into %s", source.id, out.seen, mode, out.raw_path)
    return result


def normalise(source_id: str, harvested: dict[str, Any]) -> dict[str, Any]:
    sources, source = _source(source_id)
    data_dir = pipeline.data_dir_from_env()
    out = pipeline.normalise(source, harvested["run_id"], harvested["raw_path"], data_dir=data_dir,
                             base_uri=sources.catalog.base_uri.rstrip("/"))
    log.info("%s: %d mapped, %d tombstones, %d failed (errors in %s)", source.id, out.mapped, out.deleted,
             out.failed, out.errors_path)
    return out.as_dict()


def validate(source_id: str, harvested: dict[str, Any], normalised: dict[str, Any]) -> dict[str, Any]:
    _, source = _source(source_id)
    data_dir = pipeline.data_dir_from_env()
    inventory = _inventory(data_dir)
    ref = pipeline.parse_time(harvested["run_time"])
    result = pipeline.validate(source, harvested["run_id"], normalised["normalised_path"],
                               failed_to_map=normalised["failed"], data_dir=data_dir, run_time=ref,
                               mode=harvested["mode"], inventory=inventory)
    slim = {k: result.get(k) for k in ("passed", "reasons", "failed", "rows", "quality_path", "data_docs")}
    if not result["passed"]:
        reason = "; ".join(result["reasons"])
        fail_run(source.id, harvested["run_id"], reason=reason, status="gate_failed", finished_at=ref,
                 inventory=inventory, gate=slim, data_docs=result.get("data_docs"))
        raise GateFailed(f"quality gate blocked the load of {source.id}: failing expectations "
                         f"{', '.join(result['failed'])}. {reason}")
    return slim


def check_links(source_id: str, harvested: dict[str, Any], normalised: dict[str, Any]) -> dict[str, Any]:
    """The link check stage (only wired when the source enables ``quality.link_check``)."""
    from citycat.runner import check_links as run_check

    _, source = _source(source_id)
    data_dir = pipeline.data_dir_from_env()
    return run_check(source, harvested["run_id"], normalised["normalised_path"], inventory=_inventory(data_dir),
                     now=pipeline.parse_time(harvested["run_time"]))


def link_check_enabled(source) -> bool:
    from citycat.runner import link_check_enabled as enabled

    return enabled(source)


def load(source_id: str, harvested: dict[str, Any], normalised: dict[str, Any],
         validated: dict[str, Any]) -> dict[str, Any]:
    sources, source = _source(source_id)
    data_dir = pipeline.data_dir_from_env()
    inventory = _inventory(data_dir)
    ref = pipeline.parse_time(harvested["run_time"])
    try:
        counts = pipeline.load(source, harvested["run_id"], normalised["normalised_path"], mode=harvested["mode"],
                               complete_listing=harvested["complete_listing"], inventory=inventory, loaded_at=ref)
    except Exception as exc:
        fail_run(source.id, harvested["run_id"], reason=f"load: {type(exc).__name__}: {exc}", finished_at=ref,
                 inventory=inventory)
        raise
    from inventory.clusters import after_load  # re-cluster duplicates; never raises
    duplicates = after_load(inventory, sources.catalog.duplicates, computed_at=ref)
    finish_load(source.id, harvested["run_id"], counts=counts,
                stats={"harvest": harvested, "normalise": normalised, "duplicates": duplicates},
                errors_path=normalised["errors_path"],
                finished_at=ref, inventory=inventory, gate=validated, data_docs=validated.get("data_docs"))
    log.info("%s: load %s", source.id, counts)
    return counts


def publish(context: dict[str, Any]) -> dict[str, Any]:
    from citycat.config import load_sources

    sources = load_sources(sources_path())
    data_dir = pipeline.data_dir_from_env()
    inventory = _inventory(data_dir)
    _, _, ref = run_times(context)
    return pipeline.publish(sources, inventory=inventory, data_dir=data_dir, generated_at=ref)


def publish_report(context: dict[str, Any]) -> dict[str, Any]:
    """The audit report (``<data>/report/index.html``), dated by the DAG run like the feed (issue 5)."""
    from citycat.cli_report import write_report
    from citycat.config import load_sources

    sources = load_sources(sources_path())
    data_dir = pipeline.data_dir_from_env()
    inventory = _inventory(data_dir)
    _, _, ref = run_times(context)
    return write_report(sources, inventory=inventory, data_dir=data_dir, generated_at=ref)


def list_sources() -> list[Any]:
    """Sources for the DAG factory: reads only the local sources file (no network, no DB)."""
    from citycat.config import load_sources

    return [s for s in load_sources(sources_path()).sources if s.enabled]
