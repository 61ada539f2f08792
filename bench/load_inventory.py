"""Benchmark the inventory loader: first load, unchanged re-load, 1%-changed re-load.

    PYTHONPATH=. python bench/load_inventory.py --n 100000 --repeat 3 [--backend sqlite|postgres|both]

Records are synthetic normalised lines shaped like transforms' output: ~25 sorted
N-Triples (~2.5 kB) per dataset, the SHA-256 of them as hash, and a flat row. They are
generated lazily while loading (as the pipeline streams the normalised file), so the
figures include generation; its own rate is printed so it can be subtracted. Peak RSS
is the process maximum (``ru_maxrss``), so it only ever grows across phases.
PostgreSQL runs in a throw-away database when the server on 127.0.0.1:5432 answers.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from rdflib import namespace as ns  # noqa: E402

from inventory import Inventory  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
BASE = "https://data.example.org/dataset/bench"
_FORMATS = ["CSV", "JSON", "XLSX", "PDF", "GEOJSON"]


def _triples(i: int, title: str) -> list[str]:
    s = f"<{BASE}/ds-{i:07d}>"
    rec = f"<{BASE}/ds-{i:07d}#record>"
    desc = ("Quarterly figures published by the council's transport team, covering every bus stop, "
            "shelter and timetable display point in the district, with accessibility notes.")
    out = [
        f"{s} <{ns.RDF.type}> <{ns.DCAT.Dataset}> .",
        f'{s} <{ns.DCTERMS.title}> "{title}"@en .',
        f'{s} <{ns.DCTERMS.description}> "{desc}"@en .',
        f'{s} <{ns.DCTERMS.identifier}> "ds-{i:07d}" .',
        f'{s} <{ns.DCTERMS.issued}> "2019-04-0{1 + i % 9}"^^<{ns.XSD.date}> .',
        f'{s} <{ns.DCTERMS.modified}> "2024-11-1{i % 10}T10:00:00Z"^^<{ns.XSD.dateTime}> .',
        f"{s} <{ns.DCTERMS.publisher}> <{BASE}/ds-{i:07d}#publisher> .",
        f"{s} <{ns.DCTERMS.license}> <http://publications.europa.eu/resource/authority/licence/OGL_3_0> .",
        f"{s} <{ns.DCAT.landingPage}> <https://portal.example.org/dataset/ds-{i:07d}> .",
        f"{s} <{ns.DCAT.theme}> <http://publications.europa.eu/resource/authority/data-theme/TRAN> .",
        f'{s} <{ns.DCAT.keyword}> "transport"@en .',
        f'{s} <{ns.DCAT.keyword}> "bus stops"@en .',
        f"{rec} <{ns.RDF.type}> <{ns.DCAT.CatalogRecord}> .",
        f"{rec} <{ns.FOAF.primaryTopic}> {s} .",
        f'<{BASE}/ds-{i:07d}#publisher> <{ns.FOAF.name}> "Example City Council"@en .',
    ]
    for d in range(2):
        dist = f"<{BASE}/ds-{i:07d}#distribution-{d}>"
        fmt = _FORMATS[(i + d) % len(_FORMATS)]
        out += [
            f"{s} <{ns.DCAT.distribution}> {dist} .",
            f"{dist} <{ns.RDF.type}> <{ns.DCAT.Distribution}> .",
            f"{dist} <{ns.DCAT.accessURL}> <https://portal.example.org/download/ds-{i:07d}/{d}.{fmt.lower()}> .",
            f"{dist} <{ns.DCTERMS.format}> <http://publications.europa.eu/resource/authority/file-type/{fmt}> .",
        ]
    return out


_POOL_SIZE = 1000


def _pool(revised: bool) -> list[tuple[str, str, str]]:
    """(title, nt, hash) for ``_POOL_SIZE`` distinct datasets, built once.

    Building ~3 kB of N-Triples and hashing it costs about as much as loading it, so the
    records reuse a pool of texts (datasets may share content; only ids must differ) and
    the figures measure the loader, not the generator.
    """
    out = []
    for i in range(_POOL_SIZE):
        title = f"Bus stops and shelters, ward {i}" + (" (revised)" if revised else "")
        nt = "\n".join(sorted(_triples(i, title))) + "\n"
        out.append((title, nt, hashlib.sha256(nt.encode()).hexdigest()))
    return out


def records(n: int, *, changed_every: int = 0) -> Iterator[dict]:
    """N normalised lines; with ``changed_every=k`` every k-th record has new content."""
    plain, revised = _pool(False), _pool(True)
    for i in range(n):
        title, nt, h = (revised if changed_every and i % changed_every == 0 else plain)[i % _POOL_SIZE]
        nid = f"ds-{i:07d}"
        uri = f"{BASE}/{nid}"
        yield {"native_id": nid, "uri": uri, "deleted": False, "hash": h, "nt": nt,
               "row": {"uri": uri, "native_id": nid, "source_id": "bench", "title": title,
                       "publisher": "Example City Council", "formats": _FORMATS[:2], "distribution_count": 2,
                       "licence_uri": "http://publications.europa.eu/resource/authority/licence/OGL_3_0"},
               "source_modified": "2024-11-10T10:00:00Z", "warnings": []}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_round(url: str, n: int) -> dict[str, float]:
    inv = Inventory(url)
    inv.migrate()
    out: dict[str, float] = {}
    phases = [("first", 0, T0), ("unchanged", 0, T0 + timedelta(days=1)), ("changed_1pct", 100, T0 + timedelta(days=2))]
    for k, (name, every, at) in enumerate(phases):
        started, cpu = time.perf_counter(), time.process_time()
        res = inv.load(source_id="bench", run_id=f"run-{k}", records=records(n, changed_every=every), mode="full",
                       complete_listing=True, loaded_at=at)
        out[name] = n / (time.perf_counter() - started)
        out[f"{name}_cpu"] = time.process_time() - cpu  # all threads (graphs are compressed on two)
        out[f"{name}_changes"] = res.changes
    inv.close()
    return out


def generation_rate(n: int) -> float:
    started = time.perf_counter()
    for _ in records(n):
        pass
    return n / (time.perf_counter() - started)


def pg_database(admin_url: str) -> tuple[str, callable] | None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        print(f"postgres: not reachable ({type(exc).__name__}), skipped")
        return None
    name = f"citycat_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    nt_size = sum(len(nt) for _, nt, _ in _pool(False)) / _POOL_SIZE
    print(f"N={args.n}, repeat={args.repeat}, mean nt size {nt_size:.0f} bytes")
    print(f"record generation alone (included in the figures): {generation_rate(args.n):,.0f} records/s")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        rounds = []
        for _ in range(args.repeat):
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    rounds.append(one_round(f"sqlite:///{tmp}/inventory.sqlite", args.n))
            else:
                db = pg_database(args.pg_admin_url)
                if db is None:
                    break
                url, drop = db
                try:
                    rounds.append(one_round(url, args.n))
                finally:
                    drop()
        if not rounds:
            continue
        for phase in ("first", "unchanged", "changed_1pct"):
            rates = [r[phase] for r in rounds]
            cpu = statistics.median(r[phase + "_cpu"] for r in rounds)
            print(f"{backend:8s} {phase:13s} median {statistics.median(rates):>9,.0f} records/s  "
                  f"(runs: {', '.join(f'{x:,.0f}' for x in rates)}; changes {int(rounds[-1][phase + '_changes'])}; "
                  f"CPU {cpu:.2f} s = {cpu / args.n * 1e6:.0f} µs/record)")
        print(f"{backend:8s} peak RSS so far {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
