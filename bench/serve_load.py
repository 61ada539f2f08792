"""Load benchmark of the feed service: Turtle pages of 100 datasets from a 100,000-dataset inventory.

    PYTHONPATH=. python bench/serve_load.py --n 100000 [--data /dev/shm/serve-bench] [--seconds 20]
        [--clients 8] [--hot-pages 50] [--processes 2] [--rate 300] [--walk 150] [--sparql]

1. Builds (or reuses, with ``--data`` pointing at a previous build) an inventory of ``n``
   synthetic CKAN packages (citycat/synthetic.py) mapped by the real CKAN mapping
   (``citycat.normalise.normalise_line``, 2 worker processes) and loaded by the real loader.
2. Starts ``python -m citycat.cli serve`` (uvicorn) on 127.0.0.1 in a subprocess.
3. Cold pass: fetches pages 1..hot-pages once each (each a cache miss: rendered from the
   inventory) and prints the rendering rate.
4. Load: ``processes`` client processes, each with ``clients`` threads holding a keep-alive
   connection (http.client, ``Accept-Encoding: gzip`` as harvesters send), request random
   pages among the hot pages for ``seconds``, three rounds: as fast as answered (capacity),
   at a fixed ``--rate`` (latency at the target load, measured from each request's scheduled
   time), and as fast again; prints requests/s, p50/p99 latency and the server's RSS before
   and after each round (``/proc/<pid>/status`` VmRSS).
5. ``--walk N``: fetches N pages nobody asked for yet, one after another (a harvester's full
   walk: every page a cache miss), and prints the rate and the RSS after it.
6. ``--sparql``: times the first SPARQL query (which builds the in-memory store) and a
   second one, with the server's RSS.

wrk is not installed here; the Python client costs CPU on the same 2 cores as the server,
so the figures are a lower bound of what the server does with a native load generator.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_sources(path: Path, base: str) -> Path:
    path.write_text(f"""catalog:
  base_uri: {base}
  title: Benchmark inventory
  description: Synthetic CKAN packages for the feed service benchmark.
  publisher_name: citycat bench
  page_size: 100
sources:
  - id: bench
    title: Synthetic portal
    kind: ckan
    url: https://portal.example.org
    institution:
      name: Example City Council
      kind: council
""", encoding="utf-8")
    return path


_CACHE = None  # per mapping worker: (packages, source context)


def _map_chunk(args: tuple[int, int, int, str]) -> list[str]:
    from citycat.config import load_sources
    from citycat.normalise import normalise_line, source_context
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord
    from transforms.ckan import map_package

    global _CACHE
    start, stop, n, sources = args
    if _CACHE is None:
        cfg = load_sources(sources)
        _CACHE = (SyntheticPackages(SyntheticSpec(count=n)), source_context(cfg.sources[0], cfg.catalog.base_uri))
    pk, ctx = _CACHE
    out = []
    for i in range(start, stop):
        pkg = pk.package(i)
        raw = RawRecord(source_id="bench", native_id=pkg["id"], fetched_at="2026-01-01T00:00:00Z",
                        media_type="application/json", payload=pkg, source_modified=pkg.get("metadata_modified"))
        kind, line, _, _ = normalise_line(i + 1, raw.to_json(), map_package, ctx)
        if kind == "mapped":
            out.append(line)
    return out


def build(data: Path, n: int, sources: Path) -> None:
    from inventory import Inventory

    db = data / "inventory.sqlite"
    inv = Inventory(f"sqlite:///{db}")
    inv.migrate()
    if inv.count_datasets(status="active") >= n:
        print(f"reusing {db} ({inv.count_datasets(status='active')} datasets)")
        inv.close()
        return
    started = time.perf_counter()
    chunks = [(s, min(s + 500, n), n, str(sources)) for s in range(0, n, 500)]

    def records():
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            for lines in pool.imap(_map_chunk, chunks):
                for line in lines:
                    yield json.loads(line)

    inv.start_run(source_id="bench", run_id="bench-1", mode="full", window_start=None, window_end=None, started_at=T0)
    res = inv.load(source_id="bench", run_id="bench-1", records=records(), mode="full", complete_listing=True,
                   loaded_at=T0)
    inv.finish_run("bench-1", status="success", finished_at=T0)
    took = time.perf_counter() - started
    print(f"built {db}: {inv.count_datasets(status='active')} datasets in {took:.0f} s ({n / took:.0f}/s); {res.changes}")
    inv.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _client(port: int, pages: int, seconds: float, threads: int, interval: float, out: "multiprocessing.Queue") -> None:
    """``threads`` keep-alive connections. ``interval`` 0: each sends its next request as soon as
    the last is answered (closed loop: measures capacity). Else each sends one request every
    ``interval`` seconds and latency counts from the *scheduled* send time, so a slow answer
    that delays the next request is charged to that request too (no coordinated omission)."""
    lat: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        scheduled = time.perf_counter() + rnd.random() * interval
        while time.monotonic() < stop_at:
            path = f"/catalog?page={rnd.randint(1, pages)}"
            if interval:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t = scheduled
                scheduled += interval
            else:
                t = time.perf_counter()
            conn.request("GET", path, headers={"Accept": "text/turtle", "Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors[0] += 1
            mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=worker, args=(os.getpid() * 100 + k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errors[0]))


def load_round(port: int, pages: int, seconds: float, processes: int, threads: int,
               rate: float = 0) -> dict[str, float]:
    q: multiprocessing.Queue = multiprocessing.Queue()
    interval = processes * threads / rate if rate else 0.0
    procs = [multiprocessing.Process(target=_client, args=(port, pages, seconds, threads, interval, q))
             for _ in range(processes)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - started
    lat = sorted(x for r in results for x in r[0])
    return {"requests": len(lat), "errors": sum(r[1] for r in results), "rps": len(lat) / seconds,
            "wall": wall, "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[int(len(lat) * 0.99)],
            "max_ms": 1000 * lat[-1], "mean_ms": 1000 * statistics.fmean(lat)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=None, help="keep/reuse the inventory here")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8, help="keep-alive connections per client process")
    ap.add_argument("--processes", type=int, default=2, help="client processes")
    ap.add_argument("--hot-pages", type=int, default=50, help="pages the load is spread over")
    ap.add_argument("--rate", type=float, default=300, help="requests/s of the fixed-rate round")
    ap.add_argument("--sparql", action="store_true", help="then time the SPARQL store's build and its RSS")
    ap.add_argument("--walk", type=int, default=0, help="then walk this many uncached pages (memory under misses)")
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="serve-bench-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sources = write_sources(data / "sources.yaml", f"http://127.0.0.1:{port}")
    build(data, args.n, sources)

    env = {**os.environ, "CITYCAT_DATA_DIR": str(data), "CITYCAT_SOURCES": str(sources),
           "CITYCAT_DATABASE_URL": f"sqlite:///{data / 'inventory.sqlite'}", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "citycat.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/")
                info = json.loads(c.getresponse().read())
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start")
        print(f"server pid {server.pid}: {info['datasets']} datasets; RSS at start {rss_mb(server.pid):.0f} MiB")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        cold = []
        size = 0
        for page in range(1, args.hot_pages + 1):
            t = time.perf_counter()
            c.request("GET", f"/catalog?page={page}", headers={"Accept": "text/turtle"})
            r = c.getresponse()
            body = r.read()
            size = len(body)
            cold.append(time.perf_counter() - t)
        print(f"cold (render from inventory): {len(cold)} pages, median {1000 * statistics.median(cold):.0f} ms, "
              f"p99 {1000 * sorted(cold)[int(len(cold) * 0.99)]:.0f} ms ({1 / statistics.median(cold):.0f} pages/s), "
              f"page of 100 = {size / 1024:.0f} KiB Turtle")
        before = rss_mb(server.pid)
        for name, rate in (("closed loop (capacity)", 0.0), (f"fixed rate {args.rate:.0f}/s", args.rate),
                           ("closed loop again", 0.0)):
            res = load_round(port, args.hot_pages, args.seconds, args.processes, args.clients, rate)
            print(f"{name}: {res['rps']:.0f} req/s over {args.seconds:.0f} s "
                  f"({args.processes}x{args.clients} keep-alive clients, {res['requests']} requests, "
                  f"{res['errors']} errors), p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
                  f"max {res['max_ms']:.0f} ms; server RSS {before:.0f} -> {rss_mb(server.pid):.0f} MiB")
        if args.walk:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            started, first = time.perf_counter(), args.hot_pages + 1
            rss = []
            for k, page in enumerate(range(first, first + args.walk), 1):  # pages nobody asked for yet
                c.request("GET", f"/catalog?page={page}", headers={"Accept": "text/turtle", "Accept-Encoding": "gzip"})
                c.getresponse().read()
                if k % 50 == 0:
                    rss.append(f"{rss_mb(server.pid):.0f}")
            print(f"server RSS every 50 pages of the walk (MiB): {', '.join(rss)}")
            took = time.perf_counter() - started
            print(f"cold walk of pages {first}-{first + args.walk - 1}: {args.walk / took:.1f} pages/s "
                  f"({100 * args.walk / took:.0f} datasets/s); server RSS {rss_mb(server.pid):.0f} MiB "
                  f"(page cache bounded by --cache-mb 64)")
        if args.sparql:
            from urllib.parse import urlencode

            q = urlencode({"query": "SELECT (COUNT(*) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"})
            for what in ("first query (builds the store)", "second query"):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
                started = time.perf_counter()
                c.request("GET", f"/sparql?{q}")
                body = c.getresponse().read()
                print(f"sparql {what}: {time.perf_counter() - started:.1f} s, {body[-60:]!r}; "
                      f"server RSS {rss_mb(server.pid):.0f} MiB")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # the idle one timed out
        c.request("GET", "/")
        print("cache:", json.loads(c.getresponse().read())["cache"])
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
