"""One harvest DAG per enabled source in sources.yaml: harvest → normalise → validate → load.

Wiring only; what each task does is in citycat.airflow_tasks. At parse time this file reads
the local sources file (no network, no database), so the DAG processor stays fast.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from citycat import airflow_tasks as tasks
from citycat.notify import RunAlert
from citycat.pools import pool_name

INVENTORY, _FEED = tasks.assets()

DEFAULT_ARGS = {
    "owner": "citycat",
    "retries": tasks.DEFAULT_RETRIES,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(hours=1),
    # Alerts and the run note (citycat/notify.py): channels come from the environment when it fires.
    "on_failure_callback": [RunAlert(on="failure")],
}

PARAMS = {
    "mode": Param("incremental", enum=["incremental", "full", "replay"],
                  description="incremental: only the data interval; full: list everything (may withdraw); "
                              "replay: re-process the raw archive of replay_run without contacting the source"),
    "replay_run": Param("", type="string", description="with mode=replay: the run id whose raw archive to reuse"),
    "resume": Param(True, type="boolean",
                    description="a retried harvest continues from its last checkpoint (docs/resume.md); "
                                "false lists the source from the start"),
}


def build_harvest_dag(source):
    """A DAG for one source; its data intervals are the harvest windows (see docs/airflow.md)."""

    @dag(
        dag_id=f"harvest__{source.id}",
        description=f"Harvest {source.title} ({source.kind}) into the citycat inventory",
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=PARAMS,
        tags=["citycat", "harvest", source.kind, source.institution.kind],
        doc_md=f"**{source.title}** — {source.institution.name}\n\n`{source.kind}` source at {source.url}",
    )
    def harvest_dag():
        @task(pool=pool_name(source.host))  # politeness across runs: one pool per host (citycat/pools.py)
        def harvest() -> dict:
            ctx = get_current_context()
            return tasks.harvest(source.id, run_id=ctx["run_id"], params=dict(ctx["params"]), context=ctx)

        @task(retries=1)
        def normalise(harvested: dict) -> dict:
            return tasks.normalise(source.id, harvested)

        @task(retries=0)
        def validate(harvested: dict, normalised: dict) -> dict:
            return tasks.validate(source.id, harvested, normalised)

        @task(outlets=[INVENTORY], on_success_callback=[RunAlert(on="load")])
        def load(harvested: dict, normalised: dict, validated: dict) -> dict:
            return tasks.load(source.id, harvested, normalised, validated)

        h = harvest()
        n = normalise(h)
        v = validate(h, n)
        if tasks.link_check_enabled(source):  # issue 4: link statuses feed MQA, so before validate
            @task(retries=1)
            def check_links(harvested: dict, normalised: dict) -> dict:
                return tasks.check_links(source.id, harvested, normalised)

            check_links(h, n) >> v
        load(h, n, v)

    return harvest_dag()


for _source in tasks.list_sources():
    globals()[f"harvest__{_source.id}"] = build_harvest_dag(_source)
