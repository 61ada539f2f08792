"""Trigger → success of one harvest DAG run on Airflow's CeleryExecutor, and the stack's memory.

Starts the same stack as tests/test_celery_stack.py (this machine's PostgreSQL and Redis,
api-server, scheduler, dag-processor, one Celery worker), serves a synthetic CKAN portal of
``--datasets`` datasets on 127.0.0.1, triggers ``harvest__bench`` in full mode ``--runs`` times
through the REST API and prints the wall time of each run, each task's median duration and the
resident memory of every process the stack started.

    .venv/bin/python bench/celery_run.py --datasets 1000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _rss_mib(stack) -> float:
    import psutil

    groups = {p.pid for p in stack.procs.values()}
    total = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) in groups:
                total += proc.memory_info().rss
        except (psutil.Error, ProcessLookupError):
            continue
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from celery_stack import celery_stack
    from citycat.localportal import LocalPortal

    with LocalPortal.synthetic(args.datasets) as portal, tempfile.TemporaryDirectory() as tmp:
        sources = ("sources:\n  - id: bench\n    title: bench\n    kind: ckan\n    url: " + portal.url +
                   "\n    schedule: '0 0 1 1 *'\n    institution: {name: Bench Council, kind: council}\n"
                   "    requests_per_second: 100\n    rows: 1000\n")
        started = time.monotonic()
        with celery_stack(Path(tmp), sources, dag_ids=["harvest__bench"], unpause=["harvest__bench"]) as stack:
            print(f"stack up in {time.monotonic() - started:.1f} s")
            walls, tasks, peak = [], {}, 0.0
            for i in range(args.runs):
                t0 = time.monotonic()
                run_id = stack.trigger("harvest__bench", {"mode": "full"})
                stack.wait_success("harvest__bench", run_id, timeout=600)
                walls.append(time.monotonic() - t0)
                for task_id, ti in stack.task_instances("harvest__bench", run_id).items():
                    tasks.setdefault(task_id, []).append(ti["duration"] or 0.0)
                peak = max(peak, _rss_mib(stack))
                print(f"run {i + 1}: {walls[-1]:.1f} s trigger → success")
            print(f"{args.datasets} datasets, {args.runs} full runs on the CeleryExecutor (1 worker)")
            print(f"  trigger → success: median {statistics.median(walls):.1f} s "
                  f"({args.datasets / statistics.median(walls):.0f} datasets/s end to end)")
            for task_id, durations in sorted(tasks.items()):
                print(f"  {task_id:<10} median {statistics.median(durations):.2f} s")
            print(f"  resident memory of the stack's processes after a run: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
