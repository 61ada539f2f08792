"""Benchmark the audit report: build seconds and peak RSS for a large inventory.

    .venv/bin/python bench/report_build.py --n 100000 [--repeat 3] [--keep DIR]

Phase 1 loads N synthetic datasets (shaped like transforms' output, spread over 12 sources of
8 institutions, with varied licences, formats, offers, themes, frequencies and dates) through
the real loader, then adds what the quality and duplicate stages would write: one
dataset_quality row per dataset (MQA points per indicator drawn from ``--profiles`` distinct
maps, stars, SHACL) and a duplicate
cluster for every 50th dataset. Phase 2 builds the report in a fresh child process per
repeat, so its peak RSS is the report's alone (``ru_maxrss`` of the child).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
INSTITUTIONS = ["City Council", "County Council", "Combined Authority", "University", "NHS Trust", "Police",
                "Transport Authority", "Environment Agency"]
FORMATS = ["CSV", "JSON", "XLSX", "PDF", "GEOJSON", "WMS_SRVC", "HTML", "SHP"]
OFFERS = [["download"], ["download", "api"], ["api"], ["visualisation"], ["request-only"],
          ["download", "visualisation"]]
THEMES = ["TRAN", "ENVI", "HEAL", "ECON", "SOCI", "GOVE", "EDUC", "REGI"]
FREQS = ["MONTHLY", "ANNUAL", "DAILY", "QUARTERLY", "IRREG", None]
LICENCES = [("http://publications.europa.eu/resource/authority/licence/OGL_3_0", "OGL", True),
            ("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0", "CC-BY", True),
            (None, "All rights reserved", False), (None, "see terms", None), (None, None, None)]


def _records(n: int, rng: random.Random):
    nt_pool = []
    for i in range(200):
        nt = f'<https://data.example.org/dataset/b{i}> <http://purl.org/dc/terms/title> "Bench dataset {i}" .\n'
        nt_pool.append((nt, hashlib.sha256(nt.encode()).hexdigest()))
    for i in range(n):
        src = i % 12
        inst = INSTITUTIONS[src % len(INSTITUTIONS)]
        nid = f"ds-{i:07d}"
        uri = f"https://data.example.org/dataset/s{src}/{nid}"
        lic = LICENCES[rng.randrange(len(LICENCES))]
        nt, h = nt_pool[i % len(nt_pool)]
        row = {"uri": uri, "native_id": nid, "source_id": f"src-{src:02d}", "institution": inst,
               "title": f"Dataset {i} of {inst}", "publisher": inst, "licence_uri": lic[0], "licence_label": lic[1],
               "licence_open": lic[2], "formats": rng.sample(FORMATS, rng.randint(0, 3)),
               "offer": OFFERS[rng.randrange(len(OFFERS))], "themes": rng.sample(THEMES, rng.randint(0, 2)),
               "keywords": ["k"] if i % 3 else [], "frequency": FREQS[rng.randrange(len(FREQS))],
               "modified": (T0 - timedelta(days=rng.randint(0, 2000))).date().isoformat(),
               "landing_page": f"https://portal{src}.example.org/dataset/{nid}",
               "access_rights": "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
               if i % 4 else None}
        yield src, {"native_id": nid, "uri": uri, "deleted": False, "hash": h, "nt": nt, "row": row,
                    "source_modified": row["modified"] + "T00:00:00Z", "warnings": []}


def build_inventory(url: str, n: int, profiles: int) -> None:
    import sqlalchemy as sa

    from inventory import Inventory
    from inventory.models import dataset_clusters, dataset_quality, datasets
    from publish.report.plan import load_indicators

    rng = random.Random(7)
    inv = Inventory(url)
    inv.migrate()
    by_source: dict[int, list] = {}
    for src, rec in _records(n, rng):
        by_source.setdefault(src, []).append(rec)
    for src, recs in by_source.items():
        sid = f"src-{src:02d}"
        inv.start_run(source_id=sid, run_id=f"{sid}-r1", mode="full", window_start=None, window_end=None,
                      started_at=T0)
        res = inv.load(source_id=sid, run_id=f"{sid}-r1", records=iter(recs), mode="full", complete_listing=True,
                       loaded_at=T0)
        inv.finish_run(f"{sid}-r1", status="success", finished_at=T0, counts=res.counts())
    table = load_indicators()
    now = datetime(2025, 1, 2, tzinfo=timezone.utc)
    with inv.engine.begin() as conn:
        ids = conn.execute(sa.select(datasets.c.id, datasets.c.source_id, datasets.c.native_id)).all()
        batch = []
        def draw() -> dict:
            return {name: (i.points if rng.random() < 0.6 else 0) if rng.random() < 0.9 else None
                    for name, i in table.indicators.items()}

        pool = [draw() for _ in range(profiles)]
        for k, (did, sid, nid) in enumerate(ids):
            ind = pool[rng.randrange(profiles)] if profiles else draw()
            dims = {d.lower(): sum(v or 0 for nm, v in ind.items() if table.indicators[nm].dimension == d)
                    for d in table.dimensions}
            total = sum(dims.values())
            batch.append({"run_id": f"{sid}-r1", "source_id": sid, "native_id": nid, "measured_at": now,
                          "mqa_total": total, "mqa_band": table.band(total), "mqa_indicators": ind,
                          "stars": rng.randint(0, 5), "shacl_conforms": rng.random() < 0.7,
                          **{f"mqa_{d}": v for d, v in dims.items()}})
            if len(batch) == 5000:
                conn.execute(dataset_quality.insert(), batch)
                batch = []
        if batch:
            conn.execute(dataset_quality.insert(), batch)
        clusters = []
        for k in range(0, len(ids) - 1, 50):
            primary, mirror = ids[k][0], ids[k + 1][0]
            clusters += [{"dataset_id": primary, "cluster_id": primary, "is_primary": True, "evidence": "identifier",
                          "computed_at": now},
                         {"dataset_id": mirror, "cluster_id": primary, "is_primary": False, "evidence": "identifier",
                          "computed_at": now}]
        conn.execute(dataset_clusters.insert(), clusters)
    inv.close()


def report_once(url: str, out: str) -> None:
    """Child process: build the report, print seconds, peak RSS and size as JSON."""
    import sqlalchemy as sa

    from publish.report import build_report

    engine = sa.create_engine(url)
    started = time.perf_counter()
    res = build_report(engine, Path(out), title="Bench region", generated_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
                       format_info=lambda c: (c in {"CSV", "JSON", "XLSX", "GEOJSON", "SHP"},
                                              c in {"CSV", "JSON", "GEOJSON"}))
    secs = time.perf_counter() - started
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": secs, "cpu_seconds": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024,
                      "bytes": res.bytes, "charts": res.charts, "datasets": res.datasets}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="directory for the inventory (reused when it exists)")
    ap.add_argument("--profiles", type=int, default=500,
                    help="distinct MQA indicator maps the datasets draw from (0: every dataset its own, the worst "
                         "case; real portals repeat a few metadata shapes per publisher)")
    ap.add_argument("--child", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        report_once(*args.child)
        return
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        run(args, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="citycat-report-bench-") as tmp:
            run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    db = tmp / "inventory.sqlite"
    url = f"sqlite:///{db}"
    if not db.exists():
        started = time.perf_counter()
        build_inventory(url, args.n, args.profiles)
        print(f"inventory: {args.n:,} datasets built in {time.perf_counter() - started:.1f} s ({db})")
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, __file__, "--child", url, str(tmp / "report" / "index.html")],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = [r["seconds"] for r in runs]
    rss = [r["peak_rss_mb"] for r in runs]
    cpu = [r["cpu_seconds"] for r in runs]
    print(f"report build: median {statistics.median(secs):.2f} s wall (runs: {', '.join(f'{s:.2f}' for s in secs)}); "
          f"CPU (user+sys, whole child incl. imports) median {statistics.median(cpu):.2f} s")
    print(f"report peak RSS: median {statistics.median(rss):.0f} MB; file {runs[-1]['bytes'] / 1024:.0f} kB, "
          f"{runs[-1]['charts']} charts, {runs[-1]['datasets']:,} datasets")


if __name__ == "__main__":
    main()
