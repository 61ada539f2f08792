"""``citycat airflow pools``: the per-host politeness pools, printed for review or applied to Airflow.

Applying goes through ``airflow pools import``, Airflow's own upsert, so it needs this
environment's Airflow configuration (``AIRFLOW_HOME`` or ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``):
run it where the scheduler runs, e.g. the compose file's ``airflow-init`` service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _airflow_executable() -> str:
    beside = Path(sys.executable).with_name("airflow")
    found = str(beside) if beside.exists() else shutil.which("airflow")
    if not found:
        raise FileNotFoundError("no `airflow` command beside this Python or on PATH; install apache-airflow "
                                "(requirements.lock) or print the JSON and run `airflow pools import` yourself")
    return found


def apply_pools(document: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Upsert the pools with ``airflow pools import`` (creates new pools, resizes existing ones)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="citycat-pools-", delete=False) as fh:
        fh.write(document)
    try:
        return subprocess.run([_airflow_executable(), "pools", "import", fh.name], capture_output=True, text=True,
                              env=env, timeout=300)
    finally:
        os.unlink(fh.name)


def _pools(args: argparse.Namespace) -> int:
    from citycat.config import ConfigError, load_sources
    from citycat.pools import host_pools, pools_json

    try:
        sources = load_sources(args.sources)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    document = pools_json(host_pools(sources.sources))
    if not args.apply:
        print(document)
        return 0
    done = apply_pools(document)
    if done.returncode != 0:
        print(f"airflow pools import failed (exit {done.returncode}):\n{done.stderr[-4000:]}", file=sys.stderr)
        return 1
    print(done.stdout.strip() or "pools applied")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    af = sub.add_parser("airflow", help="Airflow deployment helpers")
    asub = af.add_subparsers(dest="airflow_command", required=True)
    pools = asub.add_parser("pools", help="one Airflow pool per source host (politeness across DAG runs)",
                            description="Print the pools JSON for `airflow pools import`, or apply it with --apply.")
    pools.add_argument("--sources", default=os.environ.get("CITYCAT_SOURCES", "sources.yaml"),
                       help="sources file (default: $CITYCAT_SOURCES or ./sources.yaml)")
    pools.add_argument("--apply", action="store_true",
                       help="create/resize the pools in Airflow's metadata database via `airflow pools import`")
    pools.set_defaults(handler=_pools)
