"""Fetch + decode rate of the CKAN harvester over loopback, against the synthetic local portal.

    PYTHONPATH=. python bench/fetch_ckan.py --n 10000 [--rows 1000] [--rps 5]

The portal runs in a subprocess (``python -m citycat.localportal``) so that its JSON encoding
does not compete with the harvester for this process's GIL. Three runs are printed:
``ckanapi`` alone (plain ``requests`` session, the naive baseline), ``CkanHarvester`` full
harvest with the politeness limit lifted (100 req/s, the options' ceiling), and with the
configured ``--rps`` (default 5 req/s, the production default: waits dominate small portals).
Then an incremental window over a second generation where 1% of packages changed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ckanapi  # noqa: E402
import requests  # noqa: E402

from citycat.synthetic import STEP, T0  # noqa: E402
from harvesters.base import HarvestWindow  # noqa: E402
from harvesters.ckan import CkanHarvester  # noqa: E402


def serve(n: int, generation: int = 0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "citycat.localportal", "--synthetic", str(n), "--port", "0",
                             "--generation", str(generation)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    line = proc.stdout.readline()  # "serving http://127.0.0.1:PORT/api/3/action/ ..."
    return proc, line.split()[1].split("/api/")[0]


def report(label: str, n: int, seconds: float, pages: int, cpu: float | None = None) -> None:
    """One line; ``cpu`` is this process's CPU seconds for the run (the portal's are its own), the figure to
    compare on a busy machine, where wall-clock rates mostly measure the other processes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per = f"  CPU {cpu / max(n, 1) * 1e6:5.0f} µs/rec" if cpu is not None else ""
    print(f"{label:<44} {n:>7} records {seconds:7.2f} s {n / seconds:9.0f} rec/s  pages={pages:<4} "
          f"peak RSS {rss:.0f} MB{per}", flush=True)


def bench_ckanapi(url: str, rows: int) -> None:
    ckan = ckanapi.RemoteCKAN(url, session=requests.Session())
    t, start, count, pages, c = time.perf_counter(), 0, 0, 0, time.process_time()
    while True:
        page = ckan.action.package_search(q="*:*", rows=rows, start=start, sort="metadata_modified asc, id asc")
        pages += 1
        count += len(page["results"])
        start += len(page["results"])
        if not page["results"] or start >= page["count"]:
            break
    report("ckanapi + requests (baseline)", count, time.perf_counter() - t, pages, time.process_time() - c)


def bench_harvester(url: str, rows: int, rps: float, window: HarvestWindow, mode: str, label: str) -> None:
    opts = CkanHarvester.Options(rows=rows, requests_per_second=rps)
    h = CkanHarvester("bench", url, opts)
    t, c = time.perf_counter(), time.process_time()
    count = sum(1 for _ in h.records(window, mode))
    report(label, count, time.perf_counter() - t, h.stats.pages, time.process_time() - c)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rps", type=float, default=5)
    args = parser.parse_args()
    proc, url = serve(args.n)
    try:
        bench_ckanapi(url, args.rows)  # also warms the server
        bench_harvester(url, args.rows, 100, HarvestWindow(), "full", "CkanHarvester full, 100 req/s cap")
        bench_harvester(url, args.rows, args.rps, HarvestWindow(), "full",
                        f"CkanHarvester full, {args.rps:g} req/s politeness")
    finally:
        proc.terminate()
        proc.wait()
    proc, url = serve(args.n, generation=1)
    try:
        since = T0 + args.n * STEP  # generation 1 edits land after every generation-0 timestamp
        window = HarvestWindow(since, since + timedelta(days=2))
        bench_harvester(url, args.rows, args.rps, window, "incremental",
                        f"CkanHarvester incremental (1% changed), {args.rps:g} req/s")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
