"""MQA scoring (and the 5-star level) alone: datasets/s over the synthetic generator's datasets.

    .venv/bin/python bench/mqa_rate.py                 # 10,000 datasets, median of 3
    .venv/bin/python bench/mqa_rate.py --n 100000      # 100,000 scorings
    .venv/bin/python bench/mqa_rate.py --store 100000  # inventory.quality on SQLite: save, latest, history

The datasets are synthetic CKAN packages (``citycat.synthetic``, ~85 triples each once mapped) mapped
by the real CKAN mapping to the canonical N-Triples the inventory stores. Mapping is not timed. At most
10,000 distinct graphs are held (~130 MB); a larger N scores them repeatedly, which costs the same per
scoring (the only caches are per vocabulary term, warm after the first few hundred datasets either way).
Links: half of the access/download URLs are given as answered, a quarter as failed, the rest unchecked;
SHACL verdicts alternate. One process, one core: the quality stage can split a run over processes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DISTINCT_MAX = 10_000


def build(n: int) -> list[tuple[str, dict[str, bool | None]]]:
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord
    from transforms.base import Institution, SourceContext
    from transforms.ckan import map_package

    ctx = SourceContext("bench", "bench", "https://data.example.org", Institution("Bench Council", "council"),
                        "http://localhost:8000")
    pkgs = SyntheticPackages(SyntheticSpec(count=n, seed=1))
    out = []
    for i in range(min(n, DISTINCT_MAX)):
        p = pkgs.package(i)
        m = map_package(RawRecord("bench", p["id"], "2026-11-20T00:00:00+00:00", "application/json", p, False,
                                  p["metadata_modified"]), ctx)
        links: dict[str, bool | None] = {}
        for u in (*m.row.get("access_urls", ()), *m.row.get("download_urls", ())):
            h = zlib.crc32(u.encode()) % 4
            links[u] = True if h < 2 else False if h == 2 else None
        out.append((m.ntriples(), links))
    return out


def run(graphs: list[tuple[str, dict]], n: int, *, stars: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds): the machine is shared, so CPU time is the steadier figure."""
    from expectations.mqa import assess, score_dataset

    k = len(graphs)
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        nt, links = graphs[i % k]
        if stars:
            assess(nt, links=links, shacl_conforms=bool(i % 2))
        else:
            score_dataset(nt, links=links, shacl_conforms=bool(i % 2))
    return time.perf_counter() - t, time.process_time() - c


def store(n: int, runs: int = 3) -> None:
    """Storing and reading per-dataset quality rows: ``runs`` runs of ``n`` datasets in a fresh SQLite file."""
    import tempfile
    from datetime import datetime, timedelta, timezone

    from inventory import Inventory
    from inventory.quality import latest_dataset_quality, quality_history, save_dataset_quality

    dims = ("findability", "accessibility", "interoperability", "reusability", "contextuality")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out: dict[str, object] = {"datasets": n, "runs": runs}
    with tempfile.TemporaryDirectory() as d:
        inv = Inventory(f"sqlite:///{d}/inventory.sqlite")
        inv.migrate()
        for r in range(runs):
            rows = ({"run_id": f"s:r{r}", "source_id": "s", "native_id": f"d{i:07d}",
                     "measured_at": t0 + timedelta(days=r),
                     "mqa_total": 200 + r, "mqa_band": "Sufficient", **{f"mqa_{x}": 40 for x in dims},
                     "mqa_indicators": {"Keyword usage": 30, "AccessURL accessibility": None}, "stars": 2,
                     "shacl_conforms": True} for i in range(n))
            t = time.perf_counter()
            save_dataset_quality(inv, rows)
            out[f"save_run_{r + 1}_rows_per_s"] = round(n / (time.perf_counter() - t))
        t = time.perf_counter()
        got = sum(1 for _ in latest_dataset_quality(inv, with_indicators=False))
        out["latest_per_dataset_seconds"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        sum(1 for _ in latest_dataset_quality(inv, with_indicators=False, first_measured=True))
        out["latest_with_first_measured_seconds"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        quality_history(inv, source_ids=["s"])
        out["history_seconds"] = round(time.perf_counter() - t, 2)
        out["latest_rows"] = got
        inv.close()
    print(json.dumps(out, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", type=int, default=0, metavar="N", help="measure inventory.quality instead")
    args = ap.parse_args()
    if args.store:
        store(args.store)
        return
    t = time.perf_counter()
    graphs = build(args.n)
    built = time.perf_counter() - t
    triples = statistics.mean(g[0].count("\n") for g in graphs[:1000])
    from expectations.mqa import aggregate, assess

    warm = [assess(nt, links=links)[0] for nt, links in graphs[:200]]  # load the shipped tables once
    mqa = [run(graphs, args.n, stars=False) for _ in range(args.repeat)]
    both = [run(graphs, args.n, stars=True) for _ in range(args.repeat)]
    agg = aggregate(assess(nt, links=links)[0] for nt, links in graphs)
    print(json.dumps({
        "datasets": args.n, "distinct_graphs": len(graphs), "mean_triples": round(triples, 1),
        "build_seconds_not_timed": round(built, 1),
        "mqa_seconds_median": round(statistics.median(w for w, _ in mqa), 3),
        "mqa_datasets_per_s": round(args.n / statistics.median(w for w, _ in mqa)),
        "mqa_cpu_us_per_dataset": round(statistics.median(c for _, c in mqa) / args.n * 1e6, 1),
        "mqa_and_stars_seconds_median": round(statistics.median(w for w, _ in both), 3),
        "mqa_and_stars_datasets_per_s": round(args.n / statistics.median(w for w, _ in both)),
        "mqa_and_stars_cpu_us_per_dataset": round(statistics.median(c for _, c in both) / args.n * 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "mean_total": agg["mean_total"], "bands": agg["bands"], "warmup": len(warm)}, indent=2))


if __name__ == "__main__":
    main()
