"""Benchmark publishing the static feed from an inventory: full publish, re-publish after 1% changed.

What ``citycat.pipeline.publish`` does, measured on its own: a SQLite inventory is loaded with N
synthetic datasets (~80 triples each, shaped like the CKAN mapping's output: dataset, record,
publisher, contact, six distributions) and one quality measurement per dataset (the full run's
quality pass), then

1. **full**: the feed is published into an empty directory;
2. 1% of the datasets (picked at random with a fixed seed, so spread over ~63% of the 100-dataset
   pages: the nightly case) get new content in an incremental load, and a second quality run
   measures them (as the validate stage of an incremental run does);
3. **1% chg**: the feed is published again over the previous one.

Each publish runs in a fresh child process, and each inventory load in another one before it, so
the peak RSS printed (``ru_maxrss``, the larger of the two publishes) is the publish's own. CPU
time (user+sys of the child, the forkserver and the feed workers) is printed beside wall time,
since the machine is shared.

    .venv/bin/python bench/feed_write.py --n 10000 20000
    .venv/bin/python bench/feed_write.py --n 100000 --impl old   # the previous pipeline.publish path
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE = "http://localhost:8000"
SOURCES = 4
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def graph(src: str, nid: str, i: int, version: int) -> str:
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    dcat, dct, foaf, vc = ("http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/", "http://xmlns.com/foaf/0.1/",
                           "http://www.w3.org/2006/vcard/ns#")
    u = f"{BASE}/dataset/{src}/{nid}"
    lines = [
        f"<{u}> <{rdf}> <{dcat}Dataset> .",
        f'<{u}> <{dct}title> "Synthetic dataset number {i} about bus stops"@en .',
        f'<{u}> <{dct}description> "A longer description of dataset {i}, with some words in it, and more of '
        f'them, as portals write: where the data comes from and how often it is updated."@en .',
        f'<{u}> <{dct}identifier> "{nid}" .',
        f'<{u}> <{dct}issued> "2020-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .',
        f"<{u}> <{dct}publisher> <{u}#publisher> .",
        f"<{u}> <{dcat}contactPoint> <{u}#contact> .",
        f"<{u}> <{dcat}landingPage> <https://portal.example/dataset/{nid}> .",
        f'<{u}> <{dcat}keyword> "transport" .',
        f'<{u}> <{dcat}keyword> "buses" .',
        f"<{u}> <{dcat}theme> <http://publications.europa.eu/resource/authority/data-theme/TRAN> .",
        f"<{u}> <{dct}license> <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0> .",
        f"<{u}#publisher> <{rdf}> <{foaf}Agent> .",
        f'<{u}#publisher> <{foaf}name> "Council {src}" .',
        f"<{u}#contact> <{rdf}> <{vc}Organization> .",
        f'<{u}#contact> <{vc}fn> "Data team" .',
        f"<{u}#contact> <{vc}hasEmail> <mailto:data@{src}.example> .",
        f"<{u}#record> <{rdf}> <{dcat}CatalogRecord> .",
        f"<{u}#record> <{foaf}primaryTopic> <{u}> .",
        f"<{u}#record> <{dct}source> <https://portal.example/api/3/action/package_show?id={nid}> .",
    ]
    for d in range(6):
        dist = f"{u}#distribution-{d}"
        lines += [
            f"<{u}> <{dcat}distribution> <{dist}> .",
            f"<{dist}> <{rdf}> <{dcat}Distribution> .",
            f'<{dist}> <{dct}title> "Resource {d} of dataset {i}" .',
            f"<{dist}> <{dcat}accessURL> <https://portal.example/files/{nid}/{d}.csv> .",
            f"<{dist}> <{dcat}downloadURL> <https://portal.example/files/{nid}/{d}.csv> .",
            f"<{dist}> <{dct}format> <http://publications.europa.eu/resource/authority/file-type/CSV> .",
            f"<{dist}> <{dcat}mediaType> <https://www.iana.org/assignments/media-types/text/csv> .",
            f'<{dist}> <{dcat}byteSize> "{1000 + i}"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger> .',
            f"<{dist}> <{dct}license> <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0> .",
        ]
    if version > 1:
        lines.append(f'<{u}> <{dct}alternative> "Changed in harvest {version}"@en .')
    return "\n".join(sorted(lines)) + "\n"


def records(n: int, ids: list[int], version: int):
    import hashlib

    per_source = -(-n // SOURCES)
    for i in ids:
        src, nid = f"src{i // per_source}", f"ds-{i:07d}"
        nt = graph(src, nid, i, version)
        yield src, {"native_id": nid, "uri": f"{BASE}/dataset/{src}/{nid}", "deleted": False, "nt": nt,
                    "row": {"title": f"Synthetic dataset number {i}", "keywords": ["transport", "buses"]},
                    "hash": hashlib.sha256(nt.encode()).hexdigest(), "source_modified": None}


def load(inv, n: int, ids: list[int], version: int, run: str, at: datetime, mode: str) -> None:
    from inventory.quality import save_dataset_quality

    by_source: dict[str, list[dict]] = {}
    for src, rec in records(n, ids, version):
        by_source.setdefault(src, []).append(rec)
    for src, recs in by_source.items():
        key = f"{src}__{run}"
        inv.start_run(source_id=src, run_id=key, mode=mode, window_start=None, window_end=at, started_at=at)
        inv.load(source_id=src, run_id=key, records=recs, mode=mode, complete_listing=mode == "full", loaded_at=at)
        inv.finish_run(key, status="success", finished_at=at)
        rng = random.Random(version)
        save_dataset_quality(inv, ({"run_id": key, "source_id": src, "native_id": r["native_id"], "measured_at": at,
                                    "content_hash": r["hash"], "mqa_total": 200 + version * 10 + rng.randrange(50),
                                    "mqa_band": "Good", "mqa_findability": 40, "mqa_accessibility": 50,
                                    "mqa_interoperability": 60, "mqa_reusability": 50, "mqa_contextuality": 20,
                                    "stars": 3, "shacl_conforms": True, "shacl_violations": 0,
                                    "shacl_warnings": 2, "findings": [], "mqa_indicators": {"x": 1}}
                                   for r in recs))


def _cpu() -> float:
    """CPU seconds of this process and every descendant, live or reaped: the feed's workers are
    children of the forkserver (reaped by it, so counted in its children_* times), not of us."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:4])
    for p in me.children(recursive=True):
        try:
            total += sum(p.cpu_times()[:4])
        except psutil.Error:
            pass
    return total


def _publish(impl: str, sources, inv, data: Path, at: datetime) -> dict:
    if impl == "old":
        from citycat import pipeline

        return pipeline.publish(sources, inventory=inv, data_dir=data, generated_at=at)
    from publish.feed_publish import publish_inventory

    return publish_inventory(sources, inventory=inv, data_dir=data, generated_at=at)


def _inventory(tmp: Path):
    from inventory import Inventory

    inv = Inventory(f"sqlite:///{tmp / 'inventory.sqlite'}")
    inv.migrate()
    return inv


def _setup(n: int, tmp: Path, phase: str) -> dict:
    """Load the inventory for a phase (in its own process: its memory is not the publish's)."""
    inv = _inventory(tmp)
    t = time.perf_counter()
    if phase == "full":
        load(inv, n, list(range(n)), 1, "full", T0, "full")
    else:
        changed = sorted(random.Random(42).sample(range(n), max(1, n // 100)))
        load(inv, n, changed, 2, "inc", T0 + timedelta(days=1), "incremental")
    inv.close()
    return {"setup": time.perf_counter() - t}


def _child(n: int, impl: str, tmp: Path, phase: str, profile: bool) -> dict:
    """One publish (full: into an empty folder; inc: over the previous feed) in a fresh process."""
    from citycat.config import SourcesFile

    logging.disable(logging.WARNING)  # sources missing from sources.yaml: one warning each
    inv = _inventory(tmp)
    sources = SourcesFile.model_validate({"catalog": {"base_uri": BASE, "title": "bench", "page_size": 100},
                                          "sources": [], "path": tmp})
    at = T0 if phase == "full" else T0 + timedelta(days=1)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    c, t = _cpu(), time.perf_counter()
    r = _publish(impl, sources, inv, tmp / "data", at)
    out = {"seconds": time.perf_counter() - t, "cpu": _cpu() - c, "bytes": r["bytes"], "pages": r["pages"],
           "datasets": r["datasets"]}
    if prof:
        prof.disable()
        prof.dump_stats(str(tmp.parent / f"feedbench-{impl}-{n}-{phase}.prof"))
    if impl == "new":
        from publish.feed import wait_for_cleanup

        wait_for_cleanup()
    inv.close()
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", type=int)
    ap.add_argument("--setup", action="store_true")
    ap.add_argument("--phase", choices=("full", "inc"), default="full")
    ap.add_argument("--tmp", type=Path)
    ap.add_argument("--n", type=int, nargs="*", default=[10_000, 20_000])
    ap.add_argument("--impl", choices=("new", "old"), default="new",
                    help="new: publish.feed_publish.publish_inventory; old: the previous pipeline.publish")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                    help="scratch folder (its disk matters: the feed writes one file per dataset)")
    ap.add_argument("--profile", choices=("full", "inc"), help="cProfile that phase into <dir>/feedbench-*.prof")
    args = ap.parse_args()
    if args.child is not None:
        if args.setup:
            print(json.dumps(_setup(args.child, args.tmp, args.phase)))
        else:
            print(json.dumps(_child(args.child, args.impl, args.tmp, args.phase, args.profile == args.phase)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"impl={args.impl} load average {os.getloadavg()[0]:.2f}")
    print(f"{'N':>8} {'full s':>7} {'cpu s':>6} {'ds/s':>7} {'MiB out':>8} {'1% chg s':>9} {'cpu s':>6} "
          f"{'1%/full':>8} {'peak RSS MiB':>13}")
    for n in args.n:
        tmp = Path(tempfile.mkdtemp(prefix="feedbench-", dir=args.dir))
        try:
            r: dict = {}
            for phase in ("full", "inc"):
                common = ["--child", str(n), "--tmp", str(tmp), "--phase", phase]
                _run(*common, "--setup")
                r[phase] = _run(*common, "--impl", args.impl, *(["--profile", args.profile] if args.profile else []))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        f, i = r["full"], r["inc"]
        print(f"{n:>8} {f['seconds']:>7.2f} {f['cpu']:>6.2f} {n / f['seconds']:>7.0f} {f['bytes'] / 2**20:>8.0f} "
              f"{i['seconds']:>9.2f} {i['cpu']:>6.2f} {i['seconds'] / f['seconds']:>8.0%} "
              f"{max(f['rss_mib'], i['rss_mib']):>13.0f}", flush=True)


if __name__ == "__main__":
    main()
