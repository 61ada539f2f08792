"""What checkpointing costs a harvest, and what a resume saves (docs/resume.md).

    .venv/bin/python bench/resume_overhead.py --n 10000 --repeat 3
    .venv/bin/python bench/resume_overhead.py --n 100000 --repeat 1

The synthetic CKAN portal runs in its own process on 127.0.0.1 (as in bench/fetch_ckan.py) so that
its JSON encoding does not share this process's GIL. Each round runs the real harvest stage
(``citycat.pipeline.harvest``, full mode, ``rows`` per page, politeness lifted to 100 req/s) with
checkpoints off, then on (one gzip member closed, fsynced and a checkpoint file renamed per page);
then a harvest killed (an exception from the checkpoint hook) after 90% of its pages, and its resume:
the resume's time includes re-reading the archived 90% to seed the duplicate check.

On a shared machine the HTTP round trips make the whole-harvest figures noisy, so the archive writing
is also measured alone (``--writer-only`` skips the rest): N synthetic records written as the stage
writes them, through ``archive.write_lines`` (no checkpoints, the old writer) and through
``checkpoint.RunArchive`` with a checkpoint every ``rows`` records, with and without ``fsync``;
wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harvesters  # noqa: E402
from citycat import pipeline  # noqa: E402
from citycat.checkpoint import RunArchive  # noqa: E402
from citycat.config import SourceConfig  # noqa: E402

END = datetime(2026, 11, 28, tzinfo=timezone.utc)


class Killed(Exception):
    pass


def serve(n: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "citycat.localportal", "--synthetic", str(n), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    line = proc.stdout.readline()
    return proc, line.split()[1].split("/api/")[0]


def source(url: str, rows: int) -> SourceConfig:
    return SourceConfig(id="bench", title="bench", kind="ckan", url=url,
                        institution={"name": "Bench Council", "kind": "council"},
                        options={"rows": rows, "requests_per_second": 100})


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_writer(n: int, rows: int, repeat: int) -> None:
    from citycat import archive
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord

    pkgs = SyntheticPackages(SyntheticSpec(count=min(n, 10_000)))
    records = [RawRecord("bench", p["id"], "2026-11-28T00:00:00+00:00", "application/json", p,
                         source_modified=p["metadata_modified"]) for p in (pkgs.package(i) for i in range(len(pkgs)))]

    def stream() -> Any:
        for i in range(n):
            yield records[i % len(records)]

    results: dict[str, list[tuple[float, float]]] = {"write_lines (no checkpoints)": [],
                                                      "RunArchive, checkpoint per page, fsync": [],
                                                      "RunArchive, checkpoint per page, no fsync": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            for label in results:
                raw = Path(tmp) / f"{r}-{len(label)}.jsonl.gz"
                w, c = time.perf_counter(), time.process_time()
                if label.startswith("write_lines"):
                    with archive.write_lines(raw) as fh:
                        for rec in stream():
                            fh.write(rec.to_json())
                            fh.write("\n")
                else:
                    run = RunArchive(raw, {"source_id": "bench"}, sync="no fsync" not in label)
                    run._take_lock()
                    run._writer = archive.MemberWriter(run.part)
                    for i, rec in enumerate(stream(), start=1):
                        run.write(rec)
                        if i % rows == 0:
                            run._checkpoint({"position": {"offset": i}, "stats": {}, "unusable": 0})
                    run.commit()
                results[label].append((time.perf_counter() - w, time.process_time() - c))
                raw.unlink()
    print(f"archive writing alone, N={n}, checkpoint every {rows} records, repeat={repeat} (medians)")
    for label, runs in results.items():
        wall = statistics.median(x for x, _ in runs)
        cpu = statistics.median(y for _, y in runs)
        print(f"  {label:<42} wall {wall:6.2f} s ({n / wall:8.0f} records/s)  cpu {cpu:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writer-only", action="store_true")
    args = parser.parse_args()
    bench_writer(args.n, args.rows, args.repeat)
    if args.writer_only:
        return
    harvesters.load_builtin()
    proc, url = serve(args.n)
    src = source(url, args.rows)
    figures: dict[str, list[float]] = {"off": [], "on": [], "resume": [], "killed": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeat):
                for mode in ("off", "on"):
                    secs, out = timed(lambda: pipeline.harvest(src, f"{mode}{r}", "full", window_start=None,
                                                               window_end=END, data_dir=Path(tmp),
                                                               checkpoints=mode == "on"))
                    assert out.seen == args.n
                    figures[mode].append(secs)
                pages = -(-args.n // args.rows)
                kill_after = max(1, int(pages * 0.9))
                original = RunArchive._checkpoint

                def dying(self: RunArchive, state: dict[str, Any]) -> None:
                    original(self, state)
                    if self.checkpoints == kill_after:
                        raise Killed()

                RunArchive._checkpoint = dying  # type: ignore[method-assign]
                t = time.perf_counter()
                try:
                    pipeline.harvest(src, f"k{r}", "full", window_start=None, window_end=END, data_dir=Path(tmp))
                except Killed:
                    figures["killed"].append(time.perf_counter() - t)
                finally:
                    RunArchive._checkpoint = original  # type: ignore[method-assign]
                secs, out = timed(lambda: pipeline.harvest(src, f"k{r}", "full", window_start=None, window_end=END,
                                                           data_dir=Path(tmp)))
                assert out.seen == args.n and out.resumed is not None
                figures["resume"].append(secs)
    finally:
        proc.terminate()
        proc.wait()
    med = {k: statistics.median(v) for k, v in figures.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"N={args.n} rows={args.rows} repeat={args.repeat} (medians)")
    print(f"checkpoints off          {med['off']:7.2f} s {args.n / med['off']:8.0f} datasets/s")
    print(f"checkpoints on (fsync)   {med['on']:7.2f} s {args.n / med['on']:8.0f} datasets/s "
          f"overhead {100 * (med['on'] / med['off'] - 1):+.1f}%")
    print(f"killed after 90% pages   {med['killed']:7.2f} s; resume to the end {med['resume']:7.2f} s "
          f"({100 * med['resume'] / med['on']:.0f}% of a clean run)")
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
