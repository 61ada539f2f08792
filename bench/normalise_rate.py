"""Normalise stage alone: datasets/s in-process vs worker processes, and the per-record mapping cost.

Each figure comes from a fresh interpreter (``python -c`` in the tree being measured), so a baseline
tree and the current one are measured the same way and neither warms the other's caches.

    python bench/normalise_rate.py                                  # N=10,000 and 50,000, median of 3
    git archive <commit> | tar -x -C /tmp/before                     # the code before, to compare with
    python bench/normalise_rate.py --baseline /tmp/before --n 10000 50000 --repeat 3

The raw archive is synthetic (``citycat.synthetic``: realistic package dicts, ~4 kB each) written once
per N with the current tree and read by every run. Wall-clock rates on a shared machine are noisy,
hence medians; the mapping cost is CPU time (``process_time``), the best of three, and each normalise
run also prints its CPU time over all its processes (psutil: the calling process, the forkserver and the
workers it reaped), the figure to compare on a busy machine. Peak RSS is the calling process's; worker
processes (forked from the forkserver, so not its children) hold their own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import SOURCES, write_archive  # noqa: E402 - bench/ (the script's folder) is on sys.path

# Runs in the measured tree: one normalise of the archive, prints seconds and peak RSS as JSON.
NORMALISE = """
import inspect, json, resource, sys, time
from pathlib import Path
from citycat import pipeline
from citycat.config import load_sources
raw, cfg, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
source = load_sources(Path(cfg)).sources[0]
kw = {"workers": workers} if "workers" in inspect.signature(pipeline.normalise).parameters else {}
import psutil
def cpu():  # this process + its descendants (the forkserver counts the workers it reaped as its children)
    total = 0.0
    for p in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            c = p.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
        except psutil.Error:
            pass
    return total
c0 = cpu()
t = time.perf_counter()
res = pipeline.normalise(source, "bench", raw, data_dir=Path(out), base_uri="http://localhost:8000", **kw)
secs = time.perf_counter() - t
time.sleep(0.3)  # let the forkserver reap the pool's workers, so their CPU is in its children_* times
print(json.dumps({"seconds": secs, "seen": res.seen, "mapped": res.mapped, "failed": res.failed, "cpu": cpu() - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# Runs in the measured tree: CPU time of map_package + canonical N-Triples per record.
MAP_COST = """
import json, sys, time
from citycat.synthetic import SyntheticPackages, SyntheticSpec
from harvesters.base import RawRecord
from transforms.base import Institution, SourceContext
from transforms.ckan import map_package
n = int(sys.argv[1])
ctx = SourceContext("bench", "bench", "https://data.example.org", Institution("Bench Council", "council"),
                    "http://localhost:8000")
pkgs = SyntheticPackages(SyntheticSpec(count=n, seed=1))
recs = [RawRecord("bench", p["id"], "2026-11-20T00:00:00+00:00", "application/json", p, False,
                  p["metadata_modified"]) for p in (pkgs.package(i) for i in range(n))]
best = float("inf")
for _ in range(3):
    t = time.process_time()
    for r in recs:
        map_package(r, ctx).ntriples()
    best = min(best, time.process_time() - t)
print(json.dumps({"us_per_record": best / n * 1e6}))
"""


def in_tree(tree: Path, code: str, *args: object) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"run in {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from citycat.normalise import default_workers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--baseline", type=Path, help="a tree of the code to compare with (git archive ... | tar -x)")
    ap.add_argument("--map-sample", type=int, default=2_000, help="packages for the per-record mapping cost")
    args = ap.parse_args()

    trees = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("current", ROOT)]
    print(f"per-record mapping cost (map_package + N-Triples, CPU, best of 3 over {args.map_sample} packages)")
    for label, tree in trees:
        cost = in_tree(tree, MAP_COST, args.map_sample)["us_per_record"]
        print(f"  {label:9s} {cost:7.0f} µs/record   ({tree})")

    runs = ([("baseline", args.baseline.resolve(), 1)] if args.baseline else []) + \
        [("in-process", ROOT, 1), (f"{args.workers} workers", ROOT, args.workers)]
    with tempfile.TemporaryDirectory(prefix="citycat-normalise-") as tmp:
        cfg = Path(tmp) / "sources.yaml"
        cfg.write_text(SOURCES, encoding="utf-8")
        for n in args.n:
            raw = Path(tmp) / f"raw-{n}.jsonl.gz"
            write_archive(raw, n)
            print(f"\nnormalise, N={n:,} (median of {args.repeat}; wall clock)")
            for label, tree, workers in runs:
                results = [in_tree(tree, NORMALISE, raw, cfg, Path(tmp) / f"out-{label}-{n}-{k}", workers)
                           for k in range(args.repeat)]
                secs = statistics.median(r["seconds"] for r in results)
                cpu = min(r["cpu"] for r in results)
                r0 = results[0]
                print(f"  {label:11s} {n / secs:7.0f} datasets/s  {secs:6.1f} s  CPU {cpu / n * 1e6:5.0f} µs/record "
                      f"(all processes, best)  mapped {r0['mapped']:,} failed {r0['failed']}  "
                      f"peak RSS {max(r['rss_mb'] for r in results):.0f} MB (calling process)")


if __name__ == "__main__":
    main()
