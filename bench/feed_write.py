"""Benchmark the static feed writer: full publish, re-publish after 1% changed, peak RSS.

Each measurement runs in a fresh child process so its peak RSS (``ru_maxrss``) is its
own. Datasets are synthetic (~30 triples each, shaped like the CKAN mapping's output:
dataset, record, publisher, contact, three distributions) with a content hash, as the
inventory yields them, and generated lazily; generation time is measured separately and
reported so it can be told apart from the feed stage. Each child writes the feed twice:
into an empty directory (full publish), then again over it with 1% of the datasets
changed (new content, hash and last_changed; picked at random with a fixed seed, so
spread over ~63% of the 100-dataset pages: the nightly case).

    PYTHONPATH=. python bench/feed_write.py            # N = 10,000 (median of 3) and 100,000 (once)
    PYTHONPATH=. python bench/feed_write.py --n 2000 --repeat 1 --dir /somewhere/fast --workers 1
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

BASE = "http://localhost:8000"
SOURCES = 4


def synthetic(n: int, changed: float = 0.0) -> Iterator["FeedDataset"]:  # noqa: F821
    """``changed``: the share of datasets given new content (as after a harvest that changed them)."""
    import random

    from publish import FeedDataset

    pick = random.Random(42)

    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    dcat, dct, foaf, vc = ("http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/", "http://xmlns.com/foaf/0.1/",
                           "http://www.w3.org/2006/vcard/ns#")
    per_source = -(-n // SOURCES)
    for i in range(n):
        src, nid = f"src{i // per_source}", f"ds-{i:07d}"
        u = f"{BASE}/dataset/{src}/{nid}"
        lines = [
            f"<{u}> <{rdf}> <{dcat}Dataset> .",
            f'<{u}> <{dct}title> "Synthetic dataset number {i} about bus stops"@en .',
            f'<{u}> <{dct}description> "A longer description of dataset {i}, with some words in it."@en .',
            f'<{u}> <{dct}identifier> "{nid}" .',
            f'<{u}> <{dct}issued> "2020-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .',
            f"<{u}> <{dct}publisher> <{u}#publisher> .",
            f"<{u}> <{dcat}contactPoint> <{u}#contact> .",
            f"<{u}> <{dcat}landingPage> <https://portal.example/dataset/{nid}> .",
            f'<{u}> <{dcat}keyword> "transport" .',
            f'<{u}> <{dcat}keyword> "buses" .',
            f"<{u}> <{dcat}theme> <http://publications.europa.eu/resource/authority/data-theme/TRAN> .",
            f"<{u}#publisher> <{rdf}> <{foaf}Agent> .",
            f'<{u}#publisher> <{foaf}name> "Council {src}" .',
            f"<{u}#contact> <{rdf}> <{vc}Organization> .",
            f'<{u}#contact> <{vc}fn> "Data team" .',
            f"<{u}#record> <{rdf}> <{dcat}CatalogRecord> .",
            f"<{u}#record> <{foaf}primaryTopic> <{u}> .",
            f"<{u}#record> <{dct}source> <https://portal.example/api/3/action/package_show?id={nid}> .",
        ]
        for d in range(3):
            dist = f"{u}#distribution-{d}"
            lines += [
                f"<{u}> <{dcat}distribution> <{dist}> .",
                f"<{dist}> <{rdf}> <{dcat}Distribution> .",
                f"<{dist}> <{dcat}accessURL> <https://portal.example/files/{nid}/{d}.csv> .",
                f"<{dist}> <{dct}format> <http://publications.europa.eu/resource/authority/file-type/CSV> .",
            ]
        last, version = t0 + timedelta(days=i % 700), 1
        if changed and pick.random() < changed:
            lines.append(f'<{u}> <{dct}alternative> "Changed in the latest harvest"@en .')
            last, version = t0 + timedelta(days=800), 2
        yield FeedDataset(src, nid, u, "\n".join(sorted(lines)) + "\n", t0, last,
                          content_hash=f"{nid}-v{version}")


def _create_cost_us(folder: Path, files: int = 500) -> float:
    """Microseconds to create one small file here: the feed writes one per dataset, and
    some mounts (this machine's /tmp: ~900 us) are 40x slower than others (/work: ~25 us)."""
    d = Path(tempfile.mkdtemp(prefix="feedbench-fs-", dir=folder))
    try:
        t = time.perf_counter()
        for i in range(files):
            (d / f"{i}.ttl").write_bytes(b"x" * 2000)
        return (time.perf_counter() - t) / files * 1e6
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _child(n: int, formats: tuple[str, ...], folder: Path, workers: int | None) -> dict:
    from publish import CatalogInfo, SourceInfo, write_feed

    cat = CatalogInfo(BASE, "Bench region", "Benchmark catalogue", "Bench authority", None, None,
                      "http://publications.europa.eu/resource/authority/licence/CC0")
    sources = [SourceInfo(f"src{k}", f"Portal {k}", f"https://portal{k}.example/", f"Council {k}", None)
               for k in range(SOURCES)]
    t = time.perf_counter()
    for _ in synthetic(n):
        pass
    gen = time.perf_counter() - t
    tmp = Path(tempfile.mkdtemp(prefix="feedbench-", dir=folder))
    try:
        t = time.perf_counter()
        r = write_feed(synthetic(n), tmp / "feed", catalog=cat, sources=sources, formats=formats,
                       generated_at=datetime(2025, 1, 1, tzinfo=timezone.utc), workers=workers)
        full = time.perf_counter() - t
        t = time.perf_counter()
        write_feed(synthetic(n, changed=0.01), tmp / "feed", catalog=cat, sources=sources, formats=formats,
                   generated_at=datetime(2025, 1, 2, tzinfo=timezone.utc), workers=workers)
        incremental = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "formats": formats, "full": full, "incremental": incremental, "gen": gen, "rss_mib": rss_mib,
            "pages": r.pages, "bytes": r.bytes, "datasets": r.datasets}


def _run(n: int, formats: tuple[str, ...], folder: Path, workers: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), "--formats", ",".join(formats), "--dir", str(folder)]
    out = subprocess.run(cmd + (["--workers", str(workers)] if workers else []), check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", type=int)
    ap.add_argument("--formats", default="ttl,nt,rdf,jsonld")
    ap.add_argument("--n", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the scratch feed is written (its file-create cost matters)")
    ap.add_argument("--repeat", type=int, default=3, help="runs for N <= 10,000 (larger N: one run)")
    ap.add_argument("--workers", type=int, help="worker processes (default: the writer's, one per core)")
    args = ap.parse_args()
    formats = tuple(args.formats.split(","))
    if args.child is not None:
        print(json.dumps(_child(args.child, formats, args.dir, args.workers)))
        return
    print(f"scratch dir {args.dir}: {_create_cost_us(args.dir):.0f} us to create a 2 kB file; formats {args.formats}")
    print(f"{'N':>8} {'runs':>4} {'full s':>7} {'full ds/s':>10} {'excl. gen':>10} {'1% chg s':>9} "
          f"{'1% ds/s-eq':>11} {'1%/full':>8} {'peak RSS MiB':>13} {'pages':>6} {'MiB out':>8}")
    for n in args.n:
        runs = [_run(n, formats, args.dir, args.workers) for _ in range(args.repeat if n <= 10_000 else 1)]
        full = statistics.median(r["full"] for r in runs)
        gen = statistics.median(r["gen"] for r in runs)
        inc = statistics.median(r["incremental"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        print(f"{n:>8} {len(runs):>4} {full:>7.2f} {n / full:>10.0f} {n / max(full - gen, 1e-9):>10.0f} "
              f"{inc:>9.2f} {n / inc:>11.0f} {inc / full:>8.0%} {rss:>13.0f} {runs[0]['pages']:>6} "
              f"{runs[0]['bytes'] / 2**20:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
