"""Write the DCAT feed whenever a harvest has updated the inventory (data-aware schedule)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

from citycat import airflow_tasks as tasks

INVENTORY, FEED = tasks.assets()


@dag(
    dag_id="publish",
    description="Publish the citycat inventory as a DCAT-AP 3 feed",
    schedule=[INVENTORY],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "citycat", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["citycat", "publish"],
)
def publish_dag():
    @task(outlets=[FEED])
    def publish() -> dict:
        return tasks.publish(get_current_context())

    @task
    def report(feed: dict) -> dict:  # after the feed: the audit report (issue 5)
        return tasks.publish_report(get_current_context())

    report(publish())


publish_dag()
