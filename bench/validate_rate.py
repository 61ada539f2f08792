"""The validate stage minus SHACL, per part, in a fresh process per N: seconds and peak RSS.

    .venv/bin/python bench/validate_rate.py --n 10000 50000 100000 --reuse /tmp/validate-bench

For each N a synthetic run (``citycat.synthetic`` packages, harvested into a raw archive and put
through the real normalise stage; not timed, kept under ``--reuse`` for the next call) is validated
by ``citycat.validation.run_validation`` in a new child process, as the pipeline's long-lived
validation process does it: GX suites + gate, the quality pass (MQA + 5 stars + ``dataset_quality``
rows into a fresh SQLite inventory; SHACL off, another benchmark measures it), Data Docs off.
``--rerun`` validates the same run a second time in the same child (an unchanged nightly run: the
quality rows of the first are its previous measurements).

The child imports great-expectations first and reports that apart (time and RSS), so "RSS left for
the data" is the peak minus what the import alone holds. CPU is the child's user+sys.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RUN_TIME = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def normalised_run(n: int, keep: Path) -> Path:
    """The normalised file of a synthetic run of n packages, made once per directory."""
    from _common import SOURCES, write_archive

    from citycat import pipeline
    from citycat.config import load_sources

    kept = keep / f"normalised-{n}.jsonl.gz"
    if kept.exists():
        return kept
    keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="citycat-vbench-") as name:
        tmp = Path(name)
        (tmp / "sources.yaml").write_text(SOURCES)
        source = load_sources(tmp / "sources.yaml").sources[0]
        write_archive(tmp / "raw.jsonl.gz", n)
        out = pipeline.normalise(source, "bench", tmp / "raw.jsonl.gz", data_dir=tmp,
                                 base_uri="http://localhost:8000")
        shutil.copy(out.normalised_path, kept)
    return kept


def child(normalised: str, rerun: bool) -> dict:
    """Runs in the fresh process: GX import, then run_validation (and its re-run)."""
    from _common import SOURCES

    t0, c0 = time.perf_counter(), _cpu()
    from expectations.suites import _gx

    _gx()
    import great_expectations.expectations  # noqa: F401 - what the suite builds from
    out: dict = {"gx_import_s": round(time.perf_counter() - t0, 2), "gx_import_cpu_s": round(_cpu() - c0, 2),
                 "rss_after_import_mb": round(_rss_mb())}
    from citycat.config import load_sources
    from citycat.validation import run_validation
    from inventory import Inventory

    with tempfile.TemporaryDirectory(prefix="citycat-vbench-") as name:
        tmp = Path(name)
        # SHACL off: bench/shacl_rate.py and bench/quality_rate.py measure it
        (tmp / "sources.yaml").write_text(SOURCES + "    quality: {shacl: false}\n")
        source = load_sources(tmp / "sources.yaml").sources[0]
        inv = Inventory(f"sqlite:///{tmp / 'inventory.sqlite'}")
        inv.migrate()
        runs = [("first", RUN_TIME)] + ([("rerun", RUN_TIME.replace(day=29))] if rerun else [])
        for label, at in runs:
            t, c = time.perf_counter(), _cpu()
            res = run_validation(source, label, normalised, failed_to_map=0, data_dir=tmp, run_time=at,
                                 previous_rows=None, data_docs=False, inventory=inv)
            secs = res["quality"]["seconds"]
            wall = time.perf_counter() - t
            parts = {k: round(v, 2) for k, v in secs.items()}
            parts["read_frame_other"] = round(wall - sum(secs.values()), 2)
            out[label] = {"rows": res["rows"], "wall_s": round(wall, 2), "cpu_s": round(_cpu() - c, 2),
                          "parts_s": parts, "passed": res["passed"], "rss_mb": round(_rss_mb())}
        inv.close()
    out["peak_rss_mb"] = round(_rss_mb())
    out["data_rss_mb"] = out["peak_rss_mb"] - out["rss_after_import_mb"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000])
    ap.add_argument("--reuse", type=Path, default=Path(tempfile.gettempdir()) / "citycat-validate-bench")
    ap.add_argument("--rerun", action="store_true", help="validate the same run again (unchanged catalogue)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rerun)))
        return
    for n in args.n:
        t = time.perf_counter()
        path = normalised_run(n, args.reuse)
        print(f"N={n:,}: normalised run ready in {time.perf_counter() - t:.1f} s ({path})", flush=True)
        cmd = [sys.executable, __file__, "--child", str(path)] + (["--rerun"] if args.rerun else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  GX import {out['gx_import_s']} s (CPU {out['gx_import_cpu_s']} s), RSS after import "
              f"{out['rss_after_import_mb']} MB")
        for label in ("first", "rerun"):
            if label in out:
                r = out[label]
                print(f"  {label:6s} {r['rows']:,} rows: wall {r['wall_s']} s = {r['rows'] / r['wall_s']:,.0f}/s, "
                      f"CPU {r['cpu_s']} s; parts {r['parts_s']}; gate passed {r['passed']}")
        print(f"  peak RSS {out['peak_rss_mb']} MB (of which {out['data_rss_mb']} MB above the GX import)", flush=True)


if __name__ == "__main__":
    main()
