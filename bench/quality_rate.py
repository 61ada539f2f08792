"""Quality stage figures: expectations + MQA over N flat rows, SHACL of changed datasets, the cached re-run.

    .venv/bin/python bench/quality_rate.py                    # N=100,000, SHACL of 1,000, GX median of 3
    .venv/bin/python bench/quality_rate.py --n 10000 --shacl 500 --repeat 1

The run is synthetic (``citycat.synthetic``: realistic CKAN package dicts) harvested into a raw archive
and normalised by the real normalise stage (not timed). Then, each on the same normalised file:

1. **expectations**: the validate stage's lean frame (``frame_row`` per record, as ``run_validation`` builds
   it while streaming) and both GX checkpoints, Data Docs off; one more run with Data Docs on;
2. **MQA + 5 stars**: one parse of each dataset's N-Triples, ``score_index`` and ``stars_of``;
3. **SHACL of changed datasets**: a ``QualityPass`` over the first ``--shacl`` records with an empty
   cache (every graph is new): cache lookup, N-Triples parse, batched pyshacl, cache write;
4. **cached re-run**: the cache holds an outcome for every graph of the run, and a ``QualityPass``
   over all N records looks them up and validates none (the figure the target is about is its
   SHACL lookup time; the whole pass, MQA and the ``dataset_quality`` writes included, is shown too);
5. **the whole validate stage** on that re-run, as a nightly run of an unchanged catalogue does it:
   one read of the run feeding both the suite's frame and the quality pass, Data Docs on.

For 4 the cache is filled by inserting, for every graph hash, the outcome pyshacl gave one real graph
of the run: validating 100,000 graphs first would take over half an hour and measure nothing new.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import SOURCES, write_archive  # noqa: E402 - bench/ (the script's folder) is on sys.path

RUN_TIME = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(tmp: Path, n: int):
    """(source, normalised path) of a synthetic run of n packages."""
    from citycat import pipeline
    from citycat.config import load_sources

    (tmp / "sources.yaml").write_text(SOURCES)
    source = load_sources(tmp / "sources.yaml").sources[0]
    raw = tmp / "raw.jsonl.gz"
    write_archive(raw, n)
    out = pipeline.normalise(source, "bench", raw, data_dir=tmp, base_uri="http://localhost:8000")
    return source, out.normalised_path, out.mapped


def prepare_cached(tmp: Path, n: int, reuse: Path | None):
    """prepare(), or the normalised run a previous ``--reuse`` call left in that directory."""
    import shutil

    from citycat.config import load_sources

    if reuse is None:
        return prepare(tmp, n)
    kept = reuse / f"normalised-{n}.jsonl.gz"
    if not kept.exists():
        reuse.mkdir(parents=True, exist_ok=True)
        _, normalised, _ = prepare(tmp, n)
        shutil.copy(normalised, kept)
    (tmp / "sources.yaml").write_text(SOURCES)
    from citycat.pipeline import iter_normalised

    mapped = sum(1 for r in iter_normalised(kept) if not r.get("deleted"))
    return load_sources(tmp / "sources.yaml").sources[0], str(kept), mapped


def expectations(source, normalised: str, docs_dir: Path | None) -> tuple[float, dict]:
    import pandas as pd

    from citycat.pipeline import iter_normalised
    from citycat.validation import quality_limits
    from expectations.gate import decide
    from expectations.suites import SUITE_COLUMNS, RunFacts, frame_row, run_suite

    limits = quality_limits(source)
    start = time.perf_counter()
    cols: dict[str, list] = {c: [] for c in SUITE_COLUMNS}
    for rec in iter_normalised(normalised):
        if rec.get("deleted"):
            continue
        fr = frame_row(rec["row"] or {}, run_time=RUN_TIME, limits=limits)
        fr["uri"] = rec["uri"]
        for c in SUITE_COLUMNS:
            cols[c].append(fr[c])
    df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cols.items()})
    frame_s = time.perf_counter() - start
    suite = run_suite(df, source_id="bench", run_id="bench", run_time=RUN_TIME, limits=limits,
                      run=RunFacts(seen=len(df), failed_to_map=0, rows=len(df)), docs_dir=docs_dir)
    decide(suite)
    total = time.perf_counter() - start
    return total, {"frame_s": frame_s, "gx_s": total - frame_s, "rows": len(df),
                   "failed_warning": suite.statistics["failed_warning"]}


def mqa(normalised: str) -> tuple[float, int]:
    from citycat.pipeline import iter_normalised
    from citycat.quality import _score

    start = time.perf_counter()
    n = 0
    for rec in iter_normalised(normalised):
        if rec.get("nt"):
            _score(rec["nt"], links=None, shacl_conforms=None)
            n += 1
    return time.perf_counter() - start, n


def quality_pass(normalised: str, inventory, limit: int | None, run_key: str, shacl_max: int) -> dict:
    from citycat.pipeline import iter_normalised
    from citycat.quality import QualityPass

    qp = QualityPass(source_id="bench", run_key=run_key, inventory=inventory, measured_at=RUN_TIME,
                     shacl_max_per_run=shacl_max)
    start = time.perf_counter()
    for i, rec in enumerate(iter_normalised(normalised)):
        if limit is not None and i >= limit:
            break
        if not rec.get("deleted"):
            qp.add(rec, [])
    out = qp.finish()
    out["wall_s"] = time.perf_counter() - start
    return out


def whole_stage(source, normalised: str, inventory, tmp: Path) -> dict:
    from citycat import pipeline

    inventory.start_run(source_id="bench", run_id=pipeline.run_key("bench", "whole"), mode="full",
                        window_start=None, window_end=RUN_TIME, started_at=RUN_TIME)
    start = time.perf_counter()
    out = pipeline.validate(source, "whole", normalised, failed_to_map=0, data_dir=tmp, run_time=RUN_TIME,
                            mode="full", inventory=inventory, data_docs=True)
    assert out["quality"]["shacl"]["validated"] == 0, out["quality"]["shacl"]
    return {"seconds": time.perf_counter() - start, "rows": out["rows"]}


def fill_cache(normalised: str, inventory) -> int:
    """An outcome for every graph hash of the run: the one pyshacl gives the run's first graph."""
    from rdflib import Graph

    from citycat.pipeline import iter_normalised
    from expectations.shacl import shapes_version, validate_graph
    from inventory.shacl_cache import put_results

    hashes, outcome = [], None
    for rec in iter_normalised(normalised):
        if rec.get("nt"):
            hashes.append(rec["hash"])
            if outcome is None:
                outcome = validate_graph(Graph().parse(data=rec["nt"], format="nt")).as_dict()
    put_results(inventory, {h: outcome for h in hashes}, shapes_version(), validated_at=RUN_TIME)
    return len(hashes)


def warm_up(normalised: str) -> None:
    import pandas as pd
    from rdflib import Graph

    from citycat.pipeline import iter_normalised
    from expectations.shacl import validate_graph
    from expectations.suites import run_suite

    run_suite(pd.DataFrame(), source_id="warm", run_id="warm")
    nt = next(r["nt"] for r in iter_normalised(normalised) if r.get("nt"))
    validate_graph(Graph().parse(data=nt, format="nt"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--shacl", type=int, default=1_000, help="changed datasets to SHACL-validate")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the expectations figure (median)")
    ap.add_argument("--shacl-repeat", type=int, default=1, help="runs of the SHACL figure (median)")
    ap.add_argument("--reuse", type=Path, help="keep the normalised run in this directory and reuse it next time")
    args = ap.parse_args()

    from inventory import Inventory

    with tempfile.TemporaryDirectory(prefix="citycat-quality-") as name:
        tmp = Path(name)
        t = time.perf_counter()
        source, normalised, mapped = prepare_cached(tmp, args.n, args.reuse)
        print(f"prepared {mapped:,} normalised datasets in {time.perf_counter() - t:.1f} s (not part of the figures)")

        warm_up(normalised)  # GX import, shapes and vocabularies outside the timings
        runs = [expectations(source, normalised, None) for _ in range(args.repeat)]
        med = statistics.median(r[0] for r in runs)
        detail = runs[0][1]
        print(f"1. expectations, {detail['rows']:,} rows: median {med:.1f} s = {detail['rows'] / med:,.0f} rows/s "
              f"(frame {statistics.median(r[1]['frame_s'] for r in runs):.1f} s, "
              f"GX {statistics.median(r[1]['gx_s'] for r in runs):.1f} s; {detail['failed_warning']} warnings "
              f"failed; median of {args.repeat})")
        docs_s, _ = expectations(source, normalised, tmp / "docs")
        size = sum(p.stat().st_size for p in (tmp / "docs").rglob("*") if p.is_file()) / 1e6
        print(f"   with Data Docs: {docs_s:.1f} s ({docs_s - med:+.1f} s), site {size:.1f} MB")

        mqa_s, scored = mqa(normalised)
        print(f"2. MQA + 5 stars, {scored:,} datasets: {mqa_s:.1f} s = {scored / mqa_s:,.0f} datasets/s")
        print(f"   expectations + MQA: {med + mqa_s:.1f} s (target <= 60 s for 100,000)")

        shacl_runs = []
        for i in range(args.shacl_repeat):
            inv = Inventory(f"sqlite:///{tmp / f'shacl{i}.sqlite'}")
            inv.migrate()
            out = quality_pass(normalised, inv, args.shacl, f"bench__shacl{i}", shacl_max=args.shacl)
            secs = out["seconds"]
            shacl_runs.append((secs.get("shacl_validate", 0) + secs.get("shacl_lookup", 0), out))
            inv.close()
        shacl_med = statistics.median(s for s, _ in shacl_runs)
        sh = shacl_runs[0][1]["shacl"]
        print(f"3. SHACL of {sh['validated']:,} changed datasets: median {shacl_med:.1f} s = "
              f"{sh['validated'] / shacl_med:,.0f} datasets/s ({sh['conforming']} conform; target <= 60 s "
              f"for 1,000; median of {args.shacl_repeat})")

        inv = Inventory(f"sqlite:///{tmp / 'cached.sqlite'}")
        inv.migrate()
        t = time.perf_counter()
        filled = fill_cache(normalised, inv)
        print(f"   (cache filled with {filled:,} outcomes in {time.perf_counter() - t:.1f} s)")
        rerun = quality_pass(normalised, inv, None, "bench__rerun", shacl_max=args.n)
        secs, sh = rerun["seconds"], rerun["shacl"]
        assert sh["validated"] == 0, sh
        print(f"4. cached re-run of {rerun['datasets']:,} unchanged datasets: SHACL {secs['shacl_lookup']:.1f} s "
              f"({sh['cached']:,} cached, {sh['validated']} validated; target <= 5 s for 100,000); whole pass "
              f"{rerun['wall_s']:.1f} s (MQA {secs['mqa']:.1f} s, dataset_quality writes {secs['store']:.1f} s)")
        whole = whole_stage(source, normalised, inv, tmp)
        print(f"5. the whole validate stage on that re-run (suite + Data Docs + quality pass + gate, one read "
              f"of the run): {whole['seconds']:.1f} s = {whole['rows'] / whole['seconds']:,.0f} datasets/s")
        inv.close()
        print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
