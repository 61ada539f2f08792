"""End-to-end benchmark: a synthetic CKAN portal on 127.0.0.1 → the whole pipeline → feed, on SQLite.

Prints datasets/s per stage and end to end, and the pipeline process's peak RSS. The portal
runs in its own process (as a real portal would), so its CPU is not counted in our RSS.

    python bench/run_pipeline.py --n 100000            # full run, then an incremental run with 1% changed
    python bench/run_pipeline.py --n 10000 --repeat 3   # medians of 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_portal(n: int, generation: int, fraction: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "citycat.localportal", "--synthetic", str(n), "--port", str(port),
                             "--generation", str(generation), "--modified-fraction", str(fraction)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "serving ..." once it listens
    return proc, f"http://127.0.0.1:{port}"


def sources_file(path: Path, url: str) -> Path:
    path.write_text(f"""catalog:
  base_uri: http://localhost:8000
  title: bench
  page_size: 100
sources:
  - id: bench
    title: synthetic portal
    kind: ckan
    url: {url}
    institution: {{name: Bench Council, kind: council}}
    rows: 1000
    requests_per_second: 100
""", encoding="utf-8")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeSampler:
    """Samples the RSS of this process's descendants every 100 ms (workers of a forkserver are not
    our children for getrusage, so RUSAGE_CHILDREN cannot see them). The portal is excluded: it is
    the source, not the pipeline."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.me = psutil.Process()
        self.largest_child = 0.0
        self.tree = 0.0
        self.exclude: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.1):
            try:
                kids = [k for k in self.me.children(recursive=True) if k.pid not in self.exclude]
                sizes = []
                for k in kids:
                    try:
                        sizes.append(k.memory_info().rss / 2**20)
                    except psutil.Error:
                        pass
                self.largest_child = max([self.largest_child, *sizes])
                self.tree = max(self.tree, self.me.memory_info().rss / 2**20 + sum(sizes))
            except psutil.Error:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


SAMPLER: "TreeSampler"


def one_run(n: int, fraction: float, incremental: bool) -> dict[str, float]:
    """The full run, then (optionally) the incremental run, each in a fresh process as `citycat run` would be:
    each pays its own imports and starts its own validation process, nothing is warm from the other."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="citycat-bench-") as tmp:
        proc, url = start_portal(n, 0, fraction)
        SAMPLER.exclude.add(proc.pid)
        try:
            full = _child("full", tmp, url)
        finally:
            proc.terminate()
            proc.wait()
        assert full["created"] == n, full
        for stage in ("harvest", "normalise", "validate", "load"):
            out[f"{stage}/s"] = n / full["stages"][stage]
        out["duplicates_seconds"] = full["stages"]["duplicates"]
        out["feed/s"] = n / full["publish_seconds"]
        out["end_to_end/s"] = n / full["seconds"]
        out["full_seconds"] = full["seconds"]
        out["peak_rss_mb"] = full["peak_rss_mb"]
        if incremental:
            proc, url = start_portal(n, 1, fraction)
            SAMPLER.exclude.add(proc.pid)
            try:
                inc = _child("inc", tmp, url)
            finally:
                proc.terminate()
                proc.wait()
            out["incremental_seconds"] = inc["seconds"]
            out["incremental_changed"] = inc["updated"]
            out["incremental_share_of_full"] = inc["seconds"] / full["seconds"]
            out["peak_rss_mb"] = max(out["peak_rss_mb"], inc["peak_rss_mb"])
    # normalise workers, the validation process, feed workers (sampled; the portal excluded)
    out["peak_rss_largest_child_mb"] = SAMPLER.largest_child
    out["peak_rss_tree_mb"] = SAMPLER.tree
    return out


def _child(which: str, tmp: str, url: str) -> dict:
    """Run one pipeline run in a fresh interpreter (``--child``); its JSON summary is the last stdout line."""
    started = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child", which, "--dir", tmp, "--url", url],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - started  # interpreter start-up and imports included
    return out


def child_main(which: str, tmp: str, url: str) -> None:
    """The body of one run: the clock starts before the pipeline's own imports, as a CLI run's would."""
    started = time.perf_counter()
    from citycat import pipeline
    from citycat.config import load_sources
    from citycat.runner import run_source
    from inventory import Inventory

    data = Path(tmp) / "data"
    inv = Inventory(f"sqlite:///{data / 'inventory.sqlite'}")
    inv.migrate()
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    sources = load_sources(sources_file(Path(tmp) / "sources.yaml", url))
    src = sources.sources[0]
    if which == "full":
        s = run_source(src, sources, run_id="full", mode="full", now=t0, data_dir=data, inventory=inv)
        now = t0
    else:
        # the interval since the full run: the portal's generation-1 edits are dated after it
        # (worked out off the clock: it reads the whole inventory, a run would not)
        off = time.perf_counter()
        since = _after_full(inv)
        started += time.perf_counter() - off
        now = t0 + timedelta(days=1)
        s = run_source(src, sources, run_id="inc", mode="incremental", now=now, data_dir=data, inventory=inv,
                       since=since, until=datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert s.status == "success", s
    pub_started = time.perf_counter()
    pipeline.publish(sources, inventory=inv, data_dir=data, generated_at=now)
    done = time.perf_counter()
    pipeline.shutdown()
    stages = {k: v["seconds"] for k, v in s.stages.items() if isinstance(v, dict) and "seconds" in v}
    print(json.dumps({"seconds": done - started, "publish_seconds": done - pub_started, "stages": stages,
                      "created": s.created, "updated": s.updated, "peak_rss_mb": peak_rss_mb()}))


def _after_full(inv) -> datetime:
    """Latest source modification time loaded by the full run: the incremental window starts there."""
    latest = None
    for d in inv.iter_datasets(status="active"):
        if d.source_modified and (latest is None or d.source_modified > latest):
            latest = d.source_modified
    return latest + timedelta(seconds=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fraction", type=float, default=0.01, help="share changed before the incremental run")
    ap.add_argument("--no-incremental", action="store_true")
    ap.add_argument("--child", choices=("full", "inc"), help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args.child, args.dir, args.url)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    global SAMPLER
    SAMPLER = TreeSampler()
    runs = [one_run(args.n, args.fraction, not args.no_incremental) for _ in range(args.repeat)]
    SAMPLER.stop()
    print(f"n={args.n} repeat={args.repeat} (medians)")
    for key in runs[0]:
        print(f"  {key:28s} {statistics.median(r[key] for r in runs):12.2f}")


if __name__ == "__main__":
    main()
